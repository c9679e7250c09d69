"""A small OpenAI-compatible server on 127.0.0.1 for the failures a real one will not produce on
demand: busy (HTTP 429/503 with ``Retry-After``), a stream cut mid-answer, an error event
mid-stream. Everything else is tested against the real ``llama_cpp.server``
(:mod:`tests.servers.llama_cpp_server`).

Example::

    with FakeOpenAI(mode="busy", status=429) as server:
        OpenAIChatModel(server.url, "m").generate(messages, options)  # LLMBusyError
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Mode = Literal["busy", "cut", "error_event"]


class FakeOpenAI:
    """``requests`` records the JSON bodies of the chat requests received."""

    def __init__(self, mode: Mode = "busy", *, status: int = 503, retry_after: str = "7") -> None:
        self.mode: Mode = mode
        self.status = status
        self.retry_after = retry_after
        self.requests: list[dict[str, Any]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
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
        self._server.shutdown()
        self._server.server_close()


def _chunk(content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": None}],
    }


def _handler_for(server: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

        def do_GET(self) -> None:
            self._json(200, {"object": "list", "data": [{"id": "m", "object": "model"}]})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            server.requests.append(json.loads(self.rfile.read(length) or b"{}"))
            if server.mode == "busy":
                error = {"error": {"message": "server busy", "type": "unavailable"}}
                self._json(server.status, error, {"Retry-After": server.retry_after})
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in ("The ", "answer "):
                self._event(_chunk(piece))
            if server.mode == "error_event":
                self._event({"error": {"message": "the model crashed"}})
                self._event("[DONE]")
                self.wfile.write(b"0\r\n\r\n")
                return
            self.close_connection = True
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)

        def _event(self, data: Any) -> None:
            text = data if isinstance(data, str) else json.dumps(data)
            raw = f"data: {text}\n\n".encode()
            self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
            self.wfile.flush()

        def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
            raw = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(raw)

    return Handler
