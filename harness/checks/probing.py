"""What the strict-profile checks share: credentials, a signer, a stranger's certificate,
side transports with another TLS identity, and signed submissions built by hand.

Every probe still goes through a `Transport` (deadline, size bound, evidence); a side
transport has its own failure count, so the refusals a probe expects never make the run
give up on the target.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from harness.context import CheckContext, TlsCredentials
from harness.errors import EnvironmentProblem
from harness.samples import probe_dossier
from harness.sandbox_api import agency_token
from harness.signing import RequestSigner, SigningAuth
from harness.tls import Stranger, make_stranger
from harness.transport import Reply, Transport

__all__ = [
    "SignedSubmission",
    "credentials",
    "send_signed",
    "side_transport",
    "signer",
    "stranger",
    "submission",
    "target_origin",
]

_HOP_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})


def credentials(ctx: CheckContext) -> TlsCredentials:
    if ctx.settings.tls is None:
        raise EnvironmentProblem("the strict profile runs with TLS credentials; none were given")
    return ctx.settings.tls


def target_origin(ctx: CheckContext) -> str:
    url = httpx.URL(ctx.target.base_url)
    return f"{url.scheme}://{url.netloc.decode('ascii')}"


def signer(ctx: CheckContext) -> RequestSigner:
    """The run's signer: the harness's client-certificate key, keyid its thumbprint."""
    tls = credentials(ctx)
    return ctx.memo(
        "request-signer", lambda _: RequestSigner.from_files(tls.cert_file, tls.key_file)
    )


def stranger(ctx: CheckContext) -> Stranger:
    """One certificate per run from a CA the target never trusted."""
    return ctx.memo("stranger", lambda c: make_stranger(credentials(c)))


@contextmanager
def side_transport(
    ctx: CheckContext, context: ssl.SSLContext, *, sign: bool
) -> Iterator[Transport]:
    """A transport over another TLS identity (`context`), signing target requests if asked."""
    auth = SigningAuth(signer(ctx), target_origin(ctx)) if sign else None
    with httpx.Client(follow_redirects=False, verify=context, auth=auth) as client:
        yield Transport(
            client,
            ctx.transport.evidence,
            timeout_s=ctx.settings.request_timeout_s,
            deadline=ctx.transport.deadline,
        )


def submission(
    ctx: CheckContext, token: str | None = None
) -> tuple[str, dict[str, Any], dict[str, str]]:
    """URL, a fresh well-formed dossier and headers carrying a token bound to our certificate."""
    headers = {"Authorization": f"Bearer {token or agency_token(ctx)}"}
    return ctx.target_url("/dossiers"), probe_dossier(ctx), headers


class SignedSubmission:
    """A POST /dossiers signed by hand, so one part can be made defective before sending."""

    def __init__(self, ctx: CheckContext, *, token: str | None = None) -> None:
        url, self.dossier, headers = submission(ctx, token)
        self.request = ctx.transport.client.build_request(
            "POST", url, json=self.dossier, headers=headers
        )

    @property
    def body(self) -> bytes:
        return self.request.content

    def headers(self) -> dict[str, str]:
        """The signed headers to send as they are (hop-by-hop ones are httpx's to set)."""
        return {k: v for k, v in self.request.headers.items() if k.lower() not in _HOP_HEADERS}


def send_signed(ctx: CheckContext, signed: SignedSubmission, *, body: bytes | None = None) -> Reply:
    """Send `signed` as it is, or with `body` in place of the signed one (tampering).
    No answer at all is a TransportFailure: the check errors, it cannot judge."""
    content = signed.body if body is None else body
    return ctx.request("POST", str(signed.request.url), content=content, headers=signed.headers())
