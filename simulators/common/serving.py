"""Run ASGI apps on loopback sockets in background threads (demo, sandbox, tests)."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.types import ASGIApp

__all__ = ["ServerHandle", "bind_socket", "serve_in_thread"]


def bind_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening socket; port 0 picks a free one, so URLs are known before apps start."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    return sock


@dataclass
class ServerHandle:
    name: str
    url: str
    server: uvicorn.Server
    thread: threading.Thread
    sock: socket.socket

    def stop(self, timeout_s: float = 5.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout_s)
        self.sock.close()


def serve_in_thread(
    name: str,
    app: ASGIApp,
    sock: socket.socket,
    *,
    start_timeout_s: float = 10.0,
    tls: ssl.SSLContext | None = None,
) -> ServerHandle:
    """Serve `app` on `sock`; with `tls`, over HTTPS with the client certificate in the
    ASGI scope (simulators.common.tls)."""
    host, port = sock.getsockname()[:2]
    options: dict[str, Any] = {}
    if tls is not None:
        from simulators.common.tls import TlsScopeProtocol

        options = {"http": TlsScopeProtocol, "ssl_context_factory": lambda _c, _d: tls}
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
        **options,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"lienthong-{name}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + start_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the {name} simulator did not start on {host}:{port}")
        time.sleep(0.01)
    scheme = "https" if tls is not None else "http"
    return ServerHandle(name, f"{scheme}://{host}:{port}", server, thread, sock)
