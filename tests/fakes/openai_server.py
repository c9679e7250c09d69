"""A small OpenAI-compatible server on 127.0.0.1 (random port, own thread) for the failures a real
one will not produce on demand. Everything else is tested against the real ``llama_cpp.server``
(:mod:`rag.testing.llama_cpp_server`).

Endpoints: ``POST /v1/chat/completions`` (server-sent events with ``"stream": true``, else one
chat completion), ``GET /v1/models`` (lists ``m``; any other GET answers the same).

Modes (set ``server.mode`` at any time; they apply to the chat route), named as in
:mod:`tests.fakes.ollama_server`:

- ``normal``: the reply, word by word, a ``finish_reason`` chunk, then ``data: [DONE]``;
- ``slow``: sleeps ``slow_s`` before answering (past a short read timeout);
- ``busy``: HTTP ``status`` (503 or 429) with ``Retry-After: <retry_after>``;
- ``cut``: sends part of the answer then closes the connection (stream or not);
- ``stream_error`` (alias ``error_event``): two pieces then an ``{"error": ...}`` event and
  ``[DONE]``; not streamed, HTTP 500 with the error.

Example::

    with FakeOpenAI(mode="busy", status=429) as server:
        OpenAIChatModel(server.url, "m").generate(messages, options)  # LLMBusyError
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Mode = Literal["normal", "slow", "busy", "cut", "stream_error", "error_event"]
MODEL = "m"
ERROR_MESSAGE = "the model crashed"


class FakeOpenAI:
    """``requests`` records the JSON bodies of the chat requests received; ``replies``, while
    not empty, gives the next request's reply (then ``reply`` answers)."""

    def __init__(
        self,
        mode: Mode = "normal",
        *,
        status: int = 503,
        retry_after: str = "7",
        reply: str = "The answer is in the context [1].",
        slow_s: float = 2.0,
    ) -> None:
        self.mode: Mode = mode
        self.status = status
        self.retry_after = retry_after
        self.reply = reply
        self.slow_s = slow_s
        self.requests: list[dict[str, Any]] = []
        self.replies: list[str] = []
        self._stopping = threading.Event()
        self._server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def pause(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def next_reply(self) -> str:
        return self.replies.pop(0) if self.replies else self.reply


class _QuietServer(ThreadingHTTPServer):
    """Says nothing when a client hangs up first (a timed-out ``slow`` or a ``cut`` request)."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _chunk(content: str | None, finish_reason: str | None = None) -> dict[str, Any]:
    delta = {"content": content} if content is not None else {}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def _completion(content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 26, "completion_tokens": 8, "total_tokens": 34},
    }


def _handler_for(server: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

        def do_GET(self) -> None:
            self._json(200, {"object": "list", "data": [{"id": MODEL, "object": "model"}]})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            server.requests.append(body)
            mode = server.mode
            if mode == "busy":
                error = {"error": {"message": "server busy", "type": "unavailable"}}
                self._json(server.status, error, {"Retry-After": server.retry_after})
                return
            if mode == "slow":
                server.pause(server.slow_s)
            reply = server.next_reply()
            if body.get("stream"):
                self._stream(mode, reply)
            elif mode == "cut":
                raw = json.dumps(_completion(reply)).encode()
                self._headers(200, "application/json", {"Content-Length": str(len(raw))})
                self.wfile.write(raw[: len(raw) // 2])
                self._drop_connection()
            elif mode in ("stream_error", "error_event"):
                self._json(500, {"error": {"message": ERROR_MESSAGE, "type": "server_error"}})
            else:
                self._json(200, _completion(reply))

        def _stream(self, mode: Mode, reply: str) -> None:
            self._headers(200, "text/event-stream", {"Transfer-Encoding": "chunked"})
            pieces = re.findall(r"\s*\S+\s*", reply) or [reply]
            broken = mode in ("cut", "stream_error", "error_event")
            for piece in pieces[:2] if broken else pieces:
                self._event(_chunk(piece))
            if mode == "cut":
                self._drop_connection()
                return
            if broken:
                self._event({"error": {"message": ERROR_MESSAGE}})
            else:
                self._event(_chunk(None, "stop"))
            self._event("[DONE]")
            self.wfile.write(b"0\r\n\r\n")

        def _event(self, data: Any) -> None:
            text = data if isinstance(data, str) else json.dumps(data)
            raw = f"data: {text}\n\n".encode()
            self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
            self.wfile.flush()

        def _drop_connection(self) -> None:
            self.close_connection = True
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)

        def _headers(self, status: int, content_type: str, headers: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()

        def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
            raw = json.dumps(data).encode()
            self._headers(
                status, "application/json", {"Content-Length": str(len(raw)), **(headers or {})}
            )
            self.wfile.write(raw)

    return Handler
