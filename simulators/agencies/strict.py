"""The reference agency in the strict security profile (DOMAIN.md §8).

Served over TLS ≥ 1.2 with a client certificate required (`tls_context`); in front of
the API, `StrictSecurity` checks every request in this order:

1. an RFC 9421 signature by a known signer, fresh, over the body as sent, with a nonce
   never seen before (signatures.py);
2. a certificate-bound token (RFC 8705 §3): the token's ``cnf`` ``x5t#S256`` must be the
   thumbprint of the client certificate presented on this connection. Only the binding
   is checked here, on the token's unverified claims; the API verifies the token's
   signature right after, so a forged ``cnf`` gets no further.

Each strict switch of `Behaviour` turns one of these off, for the faulty agencies.
"""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simulators.agencies.catalogue import Behaviour
from simulators.agencies.signatures import (
    NonceLedger,
    SignatureRules,
    SignerRegistry,
    verify_signature,
)
from simulators.common.http import MAX_BODY_BYTES
from simulators.common.pki import SandboxPki, thumbprint
from simulators.common.problems import FieldError, ProblemError, problem_response
from simulators.common.tls import peer_certificate, server_context

__all__ = ["StrictSecurity", "strict_middleware", "tls_context"]


def tls_context(pki: SandboxPki, name: str, behaviour: Behaviour) -> ssl.SSLContext:
    """The agency's server context: its certificate from the sandbox CA, TLS ≥ 1.2 and a
    client certificate required — unless a fault says otherwise."""
    return server_context(
        pki.server(name),
        ca_file=pki.ca_file,
        client_certificates="required" if behaviour.require_client_certificate else "optional",
        legacy_versions=not behaviour.modern_tls_only,
    )


def strict_middleware(behaviour: Behaviour, pki_dir: Path | None) -> list[Middleware]:
    """What `create_app` puts in front of the API: nothing in the baseline profile."""
    if not behaviour.strict:
        return []
    if pki_dir is None:
        raise ValueError("a strict agency needs the sandbox PKI directory (AgencyConfig.pki_dir)")
    return [Middleware(StrictSecurity, behaviour=behaviour, pki=SandboxPki(pki_dir))]


def _unauthorized(field: str, message: str, fix: str) -> ProblemError:
    description = f"the token {message}"
    return ProblemError(
        401,
        "Unauthorized",
        f"The access token was refused: {description}.",
        errors=(FieldError(field, message, fix),),
        slug="invalid-token",
        headers={
            "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"'
        },
    )


def _confirmation(authorization: str) -> str | None:
    """The token's cnf x5t#S256, unverified (see the module docstring), or None."""
    token = authorization.partition(" ")[2].strip()
    try:
        part = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        value = claims["cnf"]["x5t#S256"]
    except (IndexError, ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, str) else None


def check_binding(
    authorization: str | None, certificate: bytes | None, behaviour: Behaviour
) -> None:
    """RFC 8705 §3: the token is bound to the certificate presented on this connection."""
    if not behaviour.enforce_token_binding or not authorization:
        return  # no token at all: the API answers 401 for that itself
    if certificate is None:
        if not behaviour.require_client_certificate:
            return  # the fault: without a certificate the token is taken as a plain bearer
        raise _unauthorized(
            "client certificate", "cannot be bound: no client certificate was presented",
            "connect with the client certificate the token was issued for",
        )  # fmt: skip
    bound_to = _confirmation(authorization)
    if bound_to is None:
        raise _unauthorized(
            "cnf", "is not certificate-bound",
            "ask the identity provider for a certificate-bound token (cnf x5t#S256, RFC 8705)",
        )  # fmt: skip
    if bound_to != thumbprint(certificate):
        raise _unauthorized(
            "cnf", "is bound to another certificate",
            "present the client certificate the token was issued for, or get a token for this one",
        )  # fmt: skip


async def _read_body(receive: Receive) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client went away; the API sees an empty body and the answer is lost
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ProblemError(
                413, "Body too large", f"Request bodies are limited to {MAX_BODY_BYTES} bytes."
            )
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Callable[[], Awaitable[Message]]:
    """A receive channel that hands the API the body we already read, then the real one."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


def _headers(scope: Scope) -> list[tuple[str, str]]:
    return [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]


def _target_uri(scope: Scope, headers: list[tuple[str, str]]) -> str:
    """The URL as the client addressed it (RFC 9421 @target-uri), from the raw path."""
    host = next((v for k, v in headers if k.lower() == "host"), "")
    if not host and scope.get("server"):
        host = "{}:{}".format(*scope["server"])
    path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string") or b""
    url = f"{scope['scheme']}://{host}{path.decode('latin-1')}"
    return url + (f"?{query.decode('latin-1')}" if query else "")


class StrictSecurity:
    """ASGI middleware: signature, then token binding, then the API (module docstring)."""

    def __init__(self, app: ASGIApp, *, behaviour: Behaviour, pki: SandboxPki) -> None:
        self.app = app
        self.behaviour = behaviour
        self.signers = SignerRegistry(pki)
        self.nonces = NonceLedger()
        self.rules = SignatureRules(
            check_content_digest=behaviour.check_content_digest,
            check_age=behaviour.check_signature_age,
            reject_replays=behaviour.reject_replayed_nonces,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            body = await _read_body(receive)
            self._check(scope, body)
        except ProblemError as exc:
            await problem_response(exc, instance=scope["path"])(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    def _check(self, scope: Scope, body: bytes) -> None:
        headers = _headers(scope)
        signed = any(k.lower() == "signature-input" for k, _ in headers)
        if signed or self.behaviour.require_signatures:
            verify_signature(
                method=scope["method"], url=_target_uri(scope, headers), headers=headers,
                body=body, registry=self.signers, nonces=self.nonces, rules=self.rules,
            )  # fmt: skip
        authorization = next((v for k, v in headers if k.lower() == "authorization"), None)
        check_binding(authorization, peer_certificate(scope), self.behaviour)
