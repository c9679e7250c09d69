"""LangChain retrievers over mmrag, in process and over HTTP, by words and by picture.

Runs offline: a demo index of coloured squares (tiny random-weight CLIP), the real API on
127.0.0.1. From the repository root::

    python -m examples.langchain_retriever
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from langchain_core.documents import Document
from PIL import Image

from examples.demo import COLOURS, caption, demo_services, serve
from rag.integrations.langchain import MmragRemoteRetriever, MmragRetriever

API_KEY = "demo-key"


def show(title: str, docs: list[Document]) -> None:
    print(f"\n{title}")
    for doc in docs:
        scores = ", ".join(
            f"{k}={v:.3f}" for k, v in doc.metadata["scores"].items() if v is not None
        )
        print(f"  {doc.metadata['source']:<12} {scores}  {doc.metadata['image_url']}")
        print(f"    {doc.page_content}")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        services = demo_services(Path(tmp), api_keys=[API_KEY])
        # Text-only ranking, so the tiny random CLIP's answers are easy to read.
        by_words = {"fusion": "weighted", "weights": {"image": 0.0, "text": 1.0}}

        local = MmragRetriever(retriever=services.retriever, k=3, **by_words)
        show("In process, by words:", local.invoke(caption("red")))
        show("Filtered:", local.invoke("a square", filter="metadata.colour=blue|green"))

        picture = Image.new("RGB", (48, 48), COLOURS["yellow"])
        show("By picture:", local.invoke("", image=picture, weights={"image": 1.0, "text": 0.0}))

        with serve(services) as url:
            remote = MmragRemoteRetriever(url=url, api_key=API_KEY, k=2, **by_words)
            show(f"Over HTTP ({url}):", remote.invoke(caption("purple")))
            show("Over HTTP, async:", asyncio.run(remote.ainvoke(caption("green"))))
            remote.close()
        services.close()


if __name__ == "__main__":
    main()
