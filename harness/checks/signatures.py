"""Strict-profile RFC 9421 message signatures: required, over the body, fresh, used once.

Each check signs a submission by hand (probing.SignedSubmission), spoils exactly one
thing and expects 401. A correctly signed submission must be accepted first (the memo
``signed-control``): an agency that refuses every signature would otherwise pass the
refusal checks for nothing. `signatures_required` fails on that; the others cannot judge.
"""

from __future__ import annotations

import datetime as dt
import json

from harness.checks.probing import (
    SignedSubmission,
    credentials,
    send_signed,
    side_transport,
    signer,
    stranger,
    submission,
)
from harness.checks.registry import check
from harness.context import CheckContext
from harness.errors import EnvironmentProblem, Failure
from harness.records import Finding
from harness.signing import RequestSigner
from harness.tls import client_context
from harness.transport import Reply

__all__ = [
    "replayed_request_refused",
    "signatures_required",
    "stale_signature_refused",
    "tampered_body_refused",
]

STALE_BY_S = 600  # twice the 300 s window the requirement allows a signature's age


def _accepted(reply: Reply) -> bool:
    return 200 <= reply.status < 300


def _control(ctx: CheckContext) -> Reply:
    """A correctly signed submission of a fresh dossier (once per run)."""

    def send(c: CheckContext) -> Reply:
        signed = SignedSubmission(c)
        signer(c).sign(signed.request)
        return send_signed(c, signed)

    return ctx.memo("signed-control", send)


def _require_control(ctx: CheckContext) -> None:
    reply = _control(ctx)
    if not _accepted(reply):
        raise EnvironmentProblem(
            f"a correctly signed submission was refused (HTTP {reply.status}), so a refusal "
            "here would prove nothing; see SEC-SIG-REQUIRED"
        )


def _refusal_finding(defect: str, reply: Reply, meaning: str) -> Finding | None:
    if reply.status == 401:
        return None
    return Finding(
        title=f"POST /dossiers accepted {defect}",
        observed=f"HTTP {reply.status}",
        expected=f"HTTP 401 problem+json ({meaning})",
        exchange_ids=(reply.exchange_id,),
    )


def _expect_refused(defect: str, reply: Reply, meaning: str) -> str:
    finding = _refusal_finding(defect, reply, meaning)
    if finding:
        raise Failure(finding)
    return f"{defect} was refused with 401"


def _unsigned(ctx: CheckContext) -> Reply:
    """Our certificate and token, no signature: a side transport that does not sign."""
    tls = credentials(ctx)
    context = client_context(tls, present=(tls.cert_file, tls.key_file))
    url, dossier, headers = submission(ctx)
    with side_transport(ctx, context, sign=False) as via:
        return via.request(ctx.check_name, "POST", url, json=dossier, headers=headers)


def _by_stranger(ctx: CheckContext) -> Reply:
    alien = stranger(ctx)
    signed = SignedSubmission(ctx)
    RequestSigner(alien.key, alien.thumbprint).sign(signed.request)
    return send_signed(ctx, signed)


def _body_not_covered(ctx: CheckContext) -> Reply:
    signed = SignedSubmission(ctx)
    signer(ctx).sign(signed.request, cover_body=False)
    return send_signed(ctx, signed)


@check("SEC-SIG-REQUIRED@1")
def signatures_required(ctx: CheckContext) -> str:
    """Correct signatures are accepted; unsigned requests, unknown keyids and signatures
    that leave the body out are refused."""
    control = _control(ctx)
    findings: list[Finding] = []
    if not _accepted(control):
        findings.append(
            Finding(
                title="POST /dossiers refused a correctly signed submission",
                observed=f"HTTP {control.status}",
                expected="HTTP 202: @method, @target-uri, content-digest; created, nonce, keyid",
                exchange_ids=(control.exchange_id,),
            )
        )
    probes = {
        "an unsigned request": (_unsigned, "signature required"),
        "a signature by an unknown keyid": (_by_stranger, "unknown keyid"),
        "a signature not covering content-digest": (_body_not_covered, "body not covered"),
    }
    for defect, (send, meaning) in probes.items():
        finding = _refusal_finding(defect, send(ctx), meaning)
        if finding:
            findings.append(finding)
    if findings:
        raise Failure(*findings)
    return "a correct signature was accepted; unsigned, unknown-keyid and body-less ones refused"


@check("SEC-SIG-TAMPER@1")
def tampered_body_refused(ctx: CheckContext) -> str:
    """A signed request whose body was changed after signing is refused."""
    _require_control(ctx)
    signed = SignedSubmission(ctx)
    signer(ctx).sign(signed.request)
    tampered = dict(signed.dossier, TrichYeuHoSo="Đăng ký tạm trú (đã sửa)")
    body = json.dumps(tampered, ensure_ascii=False).encode("utf-8")
    reply = send_signed(ctx, signed, body=body)
    return _expect_refused(
        "a body changed after signing", reply, "Content-Digest does not match the body"
    )


@check("SEC-SIG-STALE@1")
def stale_signature_refused(ctx: CheckContext) -> str:
    """A signature created ten minutes ago is refused (the window is 300 s)."""
    _require_control(ctx)
    signed = SignedSubmission(ctx)
    created = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=STALE_BY_S)
    signer(ctx).sign(signed.request, created=created)
    reply = send_signed(ctx, signed)
    return _expect_refused(
        f"a signature created {STALE_BY_S // 60} minutes ago", reply, "stale created"
    )


@check("SEC-SIG-REPLAY@1")
def replayed_request_refused(ctx: CheckContext) -> str:
    """A signed request sent a second time, unchanged (same nonce), is refused."""
    signed = SignedSubmission(ctx)
    signer(ctx).sign(signed.request)
    first = send_signed(ctx, signed)
    if not _accepted(first):
        raise EnvironmentProblem(
            f"the original of the replay was refused (HTTP {first.status}); nothing to replay"
        )
    replay = send_signed(ctx, signed)
    return _expect_refused("the same signed request sent again", replay, "nonce already used")
