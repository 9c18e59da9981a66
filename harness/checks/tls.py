"""Strict-profile transport security: TLS versions, mutual TLS, certificate-bound tokens.

The TLS version check speaks TLS directly (a handshake per version, nothing more); the
other two send one well-formed, signed submission that is right in every way but the
one on trial, over a side transport where the TLS identity must differ.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass

import httpx

from harness.checks.probing import credentials, side_transport, stranger, submission
from harness.checks.registry import check
from harness.context import CheckContext
from harness.errors import EnvironmentProblem, Failure
from harness.records import Finding
from harness.sandbox_api import mint_token
from harness.tls import client_context, probe_context
from harness.transport import Reply, Transport, TransportFailure

__all__ = ["client_certificate_required", "legacy_tls_refused", "token_binding_enforced"]

_LEGACY = (("TLS 1.0", ssl.TLSVersion.TLSv1), ("TLS 1.1", ssl.TLSVersion.TLSv1_1))
_MODERN = (("TLS 1.2", ssl.TLSVersion.TLSv1_2), ("TLS 1.3", ssl.TLSVersion.TLSv1_3))
# Without an HTTP answer, a probe counts as refused only for these failures: the TLS
# layer said no, or the server hung up. A timeout or "nothing listens" cannot be judged.
_REFUSALS = frozenset({"tls", "protocol"})
_REFUSED_STATUSES = frozenset({401, 403})


@dataclass(frozen=True, slots=True)
class Handshake:
    offered: str
    outcome: str  # "accepted" | "refused" | "untestable"
    detail: str


def _address(ctx: CheckContext) -> tuple[str, int]:
    url = httpx.URL(ctx.target.base_url)
    if url.scheme != "https":
        raise Failure(
            Finding(
                title="The target does not speak TLS",
                observed=f"target URL {ctx.target.base_url} (scheme {url.scheme})",
                expected="an https:// endpoint with TLS 1.2 or later",
            )
        )
    return url.host, url.port or 443


def _timeout(ctx: CheckContext) -> float:
    deadline = ctx.transport.deadline
    left = ctx.settings.request_timeout_s if deadline is None else deadline - time.monotonic()
    if left <= 0:
        raise EnvironmentProblem("not sent: the run's time budget is spent")
    return min(ctx.settings.request_timeout_s, left)


def _handshake(ctx: CheckContext, name: str, version: ssl.TLSVersion) -> Handshake:
    """Offer exactly one version and report what the target did with it."""
    host, port = _address(ctx)
    try:
        context = probe_context(credentials(ctx), version)
    except (ValueError, ssl.SSLError) as exc:
        return Handshake(name, "untestable", f"this machine's OpenSSL cannot offer it: {exc}")
    try:
        with (
            socket.create_connection((host, port), timeout=_timeout(ctx)) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            cipher = (tls.cipher() or ("?",))[0]
            return Handshake(name, "accepted", f"negotiated {tls.version()} with {cipher}")
    except ssl.SSLError as exc:
        if exc.reason == "NO_PROTOCOLS_AVAILABLE":  # our side: the library cannot offer it
            return Handshake(name, "untestable", f"this machine's OpenSSL cannot offer it: {exc}")
        return Handshake(name, "refused", f"handshake failed: {exc.reason or exc}")
    except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError) as exc:
        return Handshake(name, "refused", f"connection closed during the handshake: {exc}")
    except TimeoutError:
        raise EnvironmentProblem(f"no TLS answer from {host}:{port} to a {name} hello") from None
    except OSError as exc:
        raise EnvironmentProblem(f"could not connect to {host}:{port}: {exc}") from None


@check("SEC-TLS-VERSION@1")
def legacy_tls_refused(ctx: CheckContext) -> str:
    """TLS 1.0 and 1.1 handshakes are refused; TLS 1.2 or 1.3 is accepted."""
    results = [_handshake(ctx, name, v) for name, v in (*_LEGACY, *_MODERN)]
    evidence = ctx.observe("tls-handshakes", [_as_dict(r) for r in results])
    legacy = results[: len(_LEGACY)]
    if all(r.outcome == "untestable" for r in legacy):
        raise EnvironmentProblem("this machine can offer neither TLS 1.0 nor 1.1; nothing to judge")
    findings = [
        Finding(
            title=f"The target completed a {r.offered} handshake",
            observed=r.detail,
            expected="the handshake refused (protocol_version alert): TLS 1.2 or later only",
            exchange_ids=(evidence,),
        )
        for r in legacy
        if r.outcome == "accepted"
    ]
    modern = [r for r in results[len(_LEGACY) :] if r.outcome == "accepted"]
    if not modern:
        findings.append(
            Finding(
                title="The target completed no TLS 1.2 or 1.3 handshake",
                observed="; ".join(f"{r.offered}: {r.detail}" for r in results[len(_LEGACY) :]),
                expected="TLS 1.2 or TLS 1.3 accepted",
                exchange_ids=(evidence,),
            )
        )
    if findings:
        raise Failure(*findings)
    return _version_summary(legacy, modern)


def _as_dict(handshake: Handshake) -> dict[str, str]:
    return {"offered": handshake.offered, "outcome": handshake.outcome, "detail": handshake.detail}


def _version_summary(legacy: list[Handshake], modern: list[Handshake]) -> str:
    refused = [r.offered for r in legacy if r.outcome == "refused"]
    untested = [r.offered for r in legacy if r.outcome == "untestable"]
    summary = f"{' and '.join(refused)} refused; {', '.join(r.offered for r in modern)} accepted"
    return summary + (f" ({', '.join(untested)} not testable on this machine)" if untested else "")


def _probe(ctx: CheckContext, via: Transport, token: str) -> Reply | TransportFailure:
    """One signed submission over `via`; the failure itself when no answer came."""
    url, dossier, headers = submission(ctx, token)
    try:
        return via.request(ctx.check_name, "POST", url, json=dossier, headers=headers)
    except TransportFailure as failure:
        return failure


def _refused(answer: Reply | TransportFailure) -> bool:
    if isinstance(answer, TransportFailure):
        if answer.kind not in _REFUSALS:
            raise EnvironmentProblem(f"could not judge the refusal: {answer}")
        return True
    return answer.status in _REFUSED_STATUSES


def _describe(answer: Reply | TransportFailure) -> str:
    if isinstance(answer, TransportFailure):
        return str(answer)
    return f"HTTP {answer.status}: the request was processed"


@check("SEC-MTLS@1")
def client_certificate_required(ctx: CheckContext) -> str:
    """Connections without a client certificate, or with one from an unknown CA, are refused."""
    _control(ctx)
    alien, audience = stranger(ctx), ctx.settings.agency_audience
    # Signed by us, with a token bound to the certificate shown (or to ours when none is):
    # only the certificate is on trial.
    probes = {
        "no client certificate": (
            client_context(credentials(ctx), present=None),
            mint_token(ctx, audience=audience),
        ),
        "a client certificate from an unknown CA": (
            alien.context,
            mint_token(ctx, audience=audience, bound_to=alien.thumbprint),
        ),
    }
    findings = []
    for defect, (context, token) in probes.items():
        with side_transport(ctx, context, sign=True) as via:
            answer = _probe(ctx, via, token)
        if not _refused(answer):
            findings.append(_accepted(f"a connection with {defect}", answer))
    if findings:
        raise Failure(*findings)
    return "connections without a client certificate or with an unknown CA's were refused"


def _control(ctx: CheckContext) -> None:
    """The same submission with our certificate must go through, or refusals prove nothing."""
    url, dossier, headers = submission(ctx)
    reply = ctx.request("POST", url, json=dossier, headers=headers)
    if not 200 <= reply.status < 300:
        raise EnvironmentProblem(
            f"a submission with the harness's own certificate, token and signature was "
            f"refused (HTTP {reply.status}), so a refusal without them proves nothing"
        )


def _accepted(what: str, answer: Reply | TransportFailure) -> Finding:
    exchange = () if isinstance(answer, TransportFailure) else (answer.exchange_id,)
    return Finding(
        title=f"POST /dossiers accepted {what}",
        observed=_describe(answer),
        expected="the TLS handshake refused, or HTTP 401/403, before anything is processed",
        exchange_ids=exchange,
    )


@check("SEC-TOKEN-BINDING@1")
def token_binding_enforced(ctx: CheckContext) -> str:
    """Tokens bound to another certificate, or to none, are refused (RFC 8705 §3)."""
    _control(ctx)
    audience = ctx.settings.agency_audience
    tokens = {
        "a token bound to another certificate": mint_token(
            ctx, audience=audience, bound_to=stranger(ctx).thumbprint
        ),
        "a token bound to no certificate": mint_token(ctx, audience=audience, unbound=True),
    }
    findings = []
    for defect, token in tokens.items():
        url, dossier, headers = submission(ctx, token)
        reply = ctx.request("POST", url, json=dossier, headers=headers)
        if reply.status != 401:
            findings.append(
                Finding(
                    title=f"POST /dossiers accepted {defect}",
                    observed=f"HTTP {reply.status}",
                    expected="HTTP 401 (invalid_token): cnf x5t#S256 must name the presented "
                    "certificate",
                    exchange_ids=(reply.exchange_id,),
                )
            )
    if findings:
        raise Failure(*findings)
    return "tokens bound to another certificate or to none were refused with 401"
