"""How load requests authenticate — the same credentials as the conformance suite.

Today: bearer tokens minted by the sandbox identity provider. mTLS and HTTP message
signatures (the strict profile) arrive with issue #5; they plug in here as further
`RequestAuth` kinds: a signer computes headers from method, path and body, and mTLS adds
a client certificate to the connection (FastHttpUser's `client_pool` / SSL context).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from harness.errors import ConfigError

__all__ = ["AUTH_KINDS", "BearerAuth", "RequestAuth", "build_auth"]

AUTH_KINDS = ("bearer",)


class RequestAuth(Protocol):
    """Headers that authenticate one request; called per request, so signers fit."""

    def headers(self, method: str, path: str, body: bytes) -> dict[str, str]: ...


@dataclass(frozen=True, slots=True)
class BearerAuth:
    token: str

    def headers(self, method: str, path: str, body: bytes) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def build_auth(spec: dict[str, Any]) -> RequestAuth:
    kind = spec.get("kind")
    if kind == "bearer" and isinstance(spec.get("token"), str):
        return BearerAuth(spec["token"])
    raise ConfigError(
        f"load authentication {kind!r} is not available; use one of {', '.join(AUTH_KINDS)} "
        "(mTLS and message signatures come with the strict profile, issue #5)"
    )
