"""A hostile agency: what the harness must survive from a system under test.

Each mode misbehaves at the HTTP level in one way a real system can — hang, stream
garbage or a 100 MB body, drip a byte at a time, answer HTML with scripts, throttle
everything with a day-long Retry-After — so a test can
show that a certification still ends within its time budget with error or fail outcomes
and an escaped, readable report. (A TLS error needs no mode: point the harness at this
plain-HTTP server with an https:// URL and the handshake fails.)
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["HOSTILE_MODES", "create_hostile_app"]

Send = Callable[[dict[str, Any]], Awaitable[None]]

_SCRIPT_PAGE = (
    b"<!doctype html><html><body><h1>Welcome</h1>"
    b"<script>alert(document.cookie)</script><img src=x onerror=alert(1)>"
    b"</body></html>"
)


async def _start(
    send: Send,
    content_type: bytes,
    length: int | None = None,
    *,
    status: int = 200,
    extra: tuple[tuple[bytes, bytes], ...] = (),
) -> None:
    headers = [(b"content-type", content_type), *extra]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})


async def _hang(send: Send) -> None:
    await asyncio.sleep(3600)  # never answers; the server cancels it on shutdown


async def _garbage(send: Send) -> None:
    body = os.urandom(4096)
    await _start(send, b"application/json", len(body))
    await send({"type": "http.response.body", "body": body})


async def _huge(send: Send) -> None:
    chunk = b"[" + b"0," * 524_287 + b"0]"  # 1 MiB of valid-looking JSON, a hundred times
    await _start(send, b"application/json", len(chunk) * 100)
    for _ in range(100):
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def _drip(send: Send) -> None:
    await _start(send, b"application/json", 1000)
    for _ in range(1000):
        await send({"type": "http.response.body", "body": b" ", "more_body": True})
        await asyncio.sleep(0.5)
    await send({"type": "http.response.body", "body": b""})


async def _html(send: Send) -> None:
    await _start(send, b"text/html; charset=utf-8", len(_SCRIPT_PAGE))
    await send({"type": "http.response.body", "body": _SCRIPT_PAGE})


_THROTTLED = b'{"type":"about:blank","title":"Too many requests","status":429}'


async def _throttle(send: Send) -> None:
    # A harness that honours Retry-After blindly would wait a day here.
    await _start(
        send,
        b"application/problem+json",
        len(_THROTTLED),
        status=429,
        extra=((b"retry-after", b"86400"),),
    )
    await send({"type": "http.response.body", "body": _THROTTLED})


HOSTILE_MODES: dict[str, Callable[[Send], Awaitable[None]]] = {
    "hang": _hang,
    "garbage": _garbage,
    "huge": _huge,
    "drip": _drip,
    "html-script": _html,
    "throttle": _throttle,
}


def create_hostile_app(mode: str) -> Callable[..., Awaitable[None]]:
    if mode not in HOSTILE_MODES:
        raise ValueError(f"unknown hostile mode {mode!r}; modes: {', '.join(HOSTILE_MODES)}")
    behave = HOSTILE_MODES[mode]

    async def app(scope: dict[str, Any], receive: Any, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        try:
            await behave(send)
        except (OSError, asyncio.CancelledError):
            return  # the client gave up on us, as it should

    return app
