"""mmrag's OpenAI-compatible chat under ``ChatOpenAI``, and the ready RAG chain with citations.

Runs offline: a demo index (tiny random-weight CLIP), the real API on 127.0.0.1, and the
embedded llama.cpp model (SmolLM2, bundled by the ``local-llm`` extra). From the repository root::

    python -m examples.langchain_chain_openai                   # embedded llama.cpp
    python -m examples.langchain_chain_openai --llm extractive  # instant, quotes the context
    # the chain's model from any OpenAI-compatible LLM server, e.g. Ollama:
    python -m examples.langchain_chain_openai --llm-url http://localhost:11434/v1
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from langchain_openai import ChatOpenAI

from examples.demo import caption, demo_services, serve
from rag.integrations.langchain import (
    MmragChatModel,
    MmragChatOpenAI,
    MmragRemoteRetriever,
    RagOutput,
    build_rag_chain,
)

API_KEY = "demo-key"
BY_WORDS = {"fusion": "weighted", "weights": {"image": 0.0, "text": 1.0}}
"""Text-only ranking, so the tiny random CLIP's answers are easy to read."""


def show(title: str, answer: str, citations: list[dict[str, Any]]) -> None:
    print(f"\n{title}\n  {answer.strip()}")
    for c in citations:
        print(f"  [{c['n']}] {c['source']}  {c['image_url']}  {'' if c['cited'] else '(uncited)'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llm", choices=["llamacpp", "extractive"], default="llamacpp")
    parser.add_argument("--llm-url", help="an OpenAI-compatible LLM server for the chain")
    parser.add_argument("--llm-model", default="llama3.2")
    args = parser.parse_args()
    question = caption("red").replace("A red square", "What is the red square")

    with tempfile.TemporaryDirectory() as tmp:
        services = demo_services(
            Path(tmp), api_keys=[API_KEY], llm={"backend": args.llm, "max_tokens": 96}
        )
        with serve(services) as url:
            # 1. mmrag *is* an OpenAI-compatible model: it retrieves and answers in one call.
            chat = ChatOpenAI(base_url=f"{url}/v1", api_key=API_KEY, model="mmrag")
            print(f"ChatOpenAI -> {url}/v1:\n  {chat.invoke(question).text.strip()}")
            # MmragChatOpenAI is the same client, keeping mmrag's citations.
            cited = MmragChatOpenAI(
                base_url=f"{url}/v1", api_key=API_KEY, model="mmrag", extra_body=BY_WORDS
            ).invoke(question)
            show("MmragChatOpenAI:", cited.text, cited.response_metadata["citations"])

            # 2. The LCEL chain: retriever | prompt | chat model -> {"answer", "citations"}.
            retriever = MmragRemoteRetriever(url=url, api_key=API_KEY, k=3, **BY_WORDS)
            llm: Any = (
                ChatOpenAI(base_url=args.llm_url, api_key="unused", model=args.llm_model)
                if args.llm_url
                else MmragChatModel(chat_model=services.chat_model, max_tokens=96)
            )
            out: RagOutput = build_rag_chain(retriever, llm).invoke(question)
            show("build_rag_chain:", out["answer"], list(out["citations"]))
        services.close()


if __name__ == "__main__":
    main()
