"""A fake Ollama server on 127.0.0.1 (random port, own thread) speaking Ollama's wire format.

Endpoints: ``POST /api/chat`` (NDJSON stream, chunked, or one JSON object with
``"stream": false``), ``POST /api/embed`` (``{model, input: [..]}`` ->
``{model, embeddings: [[..]], ...}``, unit vectors of ``embed_dim`` from :meth:`FakeOllama.vector`),
``GET /api/tags``, ``POST /api/show`` (``capabilities`` as set: add ``"vision"`` for a vision
model), ``GET /api/version``.

Modes (set ``server.mode`` at any time; they apply to ``/api/chat``, and ``normal``, ``slow``
and ``busy`` to ``/api/embed``; ``busy_times``: busy for that many requests, then normal):

- ``normal``: the reply, word by word, then a final ``done`` message with durations;
- ``slow``: sleeps ``slow_s`` before answering (past a short read timeout);
- ``busy``: HTTP 503 with ``Retry-After: <retry_after>``;
- ``cut``: sends two pieces then closes the connection mid-stream (no final chunk);
- ``stream_error``: sends two pieces then an ``{"error": ...}`` line (Ollama's mid-stream error).

An unknown model gets HTTP 404 ``{"error": "model \\"x\\" not found, try pulling it first"}``.
For "down", use :func:`unused_port_url` (a port with nothing listening).

Example::

    with FakeOllama(models=["llama3.2:latest"], reply="Paris [1].") as server:
        client = ollama.Client(server.url)
        client.chat(model="llama3.2", messages=[{"role": "user", "content": "Hi"}])
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import socket
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Mode = Literal["normal", "slow", "busy", "cut", "stream_error"]
Reply = str | Callable[[list[dict[str, Any]]], str]

VERSION = "0.12.6"
BUSY_MESSAGE = "server busy, please try again.  maximum pending requests exceeded"
STREAM_ERROR_MESSAGE = "an error was encountered while running the model"


def unused_port_url() -> str:
    """``http://127.0.0.1:<port>`` where nothing listens (the port was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def split_reply(text: str) -> list[str]:
    """Pieces the way a model streams them: words with their following spaces."""
    return re.findall(r"\s*\S+\s*", text) or [text]


class FakeOllama:
    """The fake server. ``requests`` records ``(path, json body)`` of every request received."""

    def __init__(
        self,
        models: Sequence[str] = ("llama3.2:latest",),
        reply: Reply = "The answer is in the context [1].",
        *,
        mode: Mode = "normal",
        retry_after: str | None = "7",
        slow_s: float = 3.0,
        capabilities: Sequence[str] = ("completion", "tools"),
        embed_dim: int = 16,
        busy_times: int | None = None,
        picture_reply: str | None = None,
    ) -> None:
        """``picture_reply``: the answer to a chat whose messages carry pictures (a vision
        model describing them); ``None``: ``reply`` as for any chat."""
        self.picture_reply = picture_reply
        self.models = list(models)
        self.embed_dim = embed_dim
        self.busy_times = busy_times
        self.capabilities = list(capabilities)
        self.reply = reply
        self.mode: Mode = mode
        self.retry_after = retry_after
        self.slow_s = slow_s
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeOllama:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut the open (keep-alive) connections, as a server that went down."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        for connection in list(self.connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> FakeOllama:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what the handler asks of the server -------------------------------------------------

    def has_model(self, name: str) -> bool:
        return _full_name(name) in {_full_name(m) for m in self.models}

    def reply_for(self, messages: list[dict[str, Any]]) -> str:
        if self.picture_reply is not None and any(m.get("images") for m in messages):
            return self.picture_reply
        return self.reply(messages) if callable(self.reply) else self.reply

    def pause(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def vector(self, text: str) -> list[float]:
        """The embedding of ``text``: a unit vector of hashed words (texts sharing words are
        near), as Ollama's ``/api/embed`` returns them normalised."""
        values = [0.0] * self.embed_dim
        for word in re.findall(r"\w+", text.lower()) or [""]:
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            values[digest[0] % self.embed_dim] += 1.0 if digest[1] % 2 else -1.0
        norm = math.sqrt(sum(v * v for v in values)) or 1.0
        return [v / norm for v in values]

    def is_busy(self) -> bool:
        """Whether this request gets a 503 (``busy`` mode, counting down ``busy_times``)."""
        if self.mode != "busy":
            return False
        if self.busy_times is not None:
            if self.busy_times <= 0:
                return False
            self.busy_times -= 1
        return True


def _full_name(name: str) -> str:
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _model_entry(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "model": name,
        "modified_at": "2025-10-03T23:34:03.409490317-07:00",
        "size": 2019393189,
        "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
        "details": _details(),
    }


def _details() -> dict[str, Any]:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": "llama",
        "families": ["llama"],
        "parameter_size": "3.2B",
        "quantization_level": "Q4_K_M",
    }


def _chat_message(model: str, content: str) -> dict[str, Any]:
    return {
        "model": model,
        "created_at": _now(),
        "message": {"role": "assistant", "content": content},
        "done": False,
    }


def _final_message(model: str, content: str, pieces: int) -> dict[str, Any]:
    return {
        **_chat_message(model, content),
        "done": True,
        "done_reason": "stop",
        "total_duration": 4_353_619_900,
        "load_duration": 63_915_300,
        "prompt_eval_count": 26,
        "prompt_eval_duration": 246_847_000,
        "eval_count": pieces,
        "eval_duration": 4_032_296_000,
    }


def _until_stop(text: str, stop: list[str]) -> str:
    """Ollama ends the answer before the first stop string."""
    cut = min((i for s in stop if s and (i := text.find(s)) >= 0), default=len(text))
    return text[:cut]


def _handler_for(server: FakeOllama) -> type[BaseHTTPRequestHandler]:
    class Handler(_OllamaHandler):
        fake = server

    return Handler


class _OllamaHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeOllama

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def setup(self) -> None:
        super().setup()
        self.fake.connections.add(self.connection)

    def finish(self) -> None:
        self.fake.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def do_GET(self) -> None:
        self.fake.requests.append((self.path, {}))
        if self.path == "/api/tags":
            self._json(200, {"models": [_model_entry(m) for m in self.fake.models]})
        elif self.path == "/api/version":
            self._json(200, {"version": VERSION})
        else:
            self._json(404, {"error": "404 page not found"})

    def do_POST(self) -> None:
        body = self._body()
        self.fake.requests.append((self.path, body))
        if self.path == "/api/chat":
            self._chat(body)
        elif self.path == "/api/embed":
            self._embed(body)
        elif self.path == "/api/show":
            self._show(body)
        else:
            self._json(404, {"error": "404 page not found"})

    # --- endpoints ---------------------------------------------------------------------------

    def _show(self, body: dict[str, Any]) -> None:
        name = str(body.get("model") or body.get("name") or "")
        if not self.fake.has_model(name):
            self._json(404, {"error": f"model '{name}' not found"})
            return
        self._json(200, {
            "modelfile": f"FROM {name}\n",
            "parameters": "stop \"<|eot_id|>\"",
            "template": "{{ .Prompt }}",
            "details": _details(),
            "model_info": {"general.architecture": "llama", "llama.context_length": 131072},
            "capabilities": self.fake.capabilities,
            "modified_at": "2025-10-03T23:34:03.409490317-07:00",
        })  # fmt: skip

    def _embed(self, body: dict[str, Any]) -> None:
        model = str(body.get("model") or "")
        if not self.fake.has_model(model):
            self._json(404, {"error": f'model "{model}" not found, try pulling it first'})
            return
        if self.fake.is_busy():
            headers = {"Retry-After": self.fake.retry_after} if self.fake.retry_after else {}
            self._json(503, {"error": BUSY_MESSAGE}, headers)
            return
        if self.fake.mode == "slow":
            self.fake.pause(self.fake.slow_s)
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else list(texts or [])
        self._json(200, {
            "model": model,
            "embeddings": [self.fake.vector(str(text)) for text in texts],
            "total_duration": 14_143_917,
            "load_duration": 1_019_500,
            "prompt_eval_count": sum(len(str(text).split()) for text in texts),
        })  # fmt: skip

    def _chat(self, body: dict[str, Any]) -> None:
        model = str(body.get("model") or "")
        mode = self.fake.mode
        if not self.fake.has_model(model):
            self._json(404, {"error": f'model "{model}" not found, try pulling it first'})
            return
        if self.fake.is_busy():
            headers = {"Retry-After": self.fake.retry_after} if self.fake.retry_after else {}
            self._json(503, {"error": BUSY_MESSAGE}, headers)
            return
        if mode == "slow":
            self.fake.pause(self.fake.slow_s)
        reply = self.fake.reply_for(list(body.get("messages") or []))
        pieces = split_reply(_until_stop(reply, (body.get("options") or {}).get("stop") or []))
        if body.get("stream", True):
            self._stream(model, pieces, mode)
        else:
            self._json(200, _final_message(model, "".join(pieces), len(pieces)))

    def _stream(self, model: str, pieces: list[str], mode: Mode) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        broken = mode in ("cut", "stream_error")
        lines = [_chat_message(model, piece) for piece in pieces]
        for line in lines[:2] if broken else lines:
            self._chunk(line)
        if mode == "cut":
            self._drop_connection()
            return
        if mode == "stream_error":
            self._chunk({"error": STREAM_ERROR_MESSAGE})
        else:
            self._chunk(_final_message(model, "", len(pieces)))
        self.wfile.write(b"0\r\n\r\n")

    # --- plumbing ----------------------------------------------------------------------------

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else {}

    def _json(
        self, status: int, data: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        raw = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(raw)

    def _chunk(self, data: dict[str, Any]) -> None:
        raw = json.dumps(data).encode() + b"\n"
        self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
        self.wfile.flush()

    def _drop_connection(self) -> None:
        self.close_connection = True
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)


def chat_requests(server: FakeOllama) -> Iterable[dict[str, Any]]:
    """The bodies of the ``/api/chat`` requests the server received, in order."""
    return (body for path, body in server.requests if path == "/api/chat")


def embed_requests(server: FakeOllama) -> list[dict[str, Any]]:
    """The bodies of the ``/api/embed`` requests the server received, in order."""
    return [body for path, body in server.requests if path == "/api/embed"]
