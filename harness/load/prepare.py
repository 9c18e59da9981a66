"""Before a run: credentials and applicants from the sandbox's admin API, over HTTP."""

from __future__ import annotations

import base64
import json
import ssl
from typing import Any

import httpx

from harness.context import SandboxEndpoints, TlsCredentials
from harness.errors import EnvironmentProblem, TargetUnreachable
from harness.tls import client_context

__all__ = ["MAX_APPLICANTS", "mint_token", "probe_target", "sample_applicants"]

MAX_APPLICANTS = 5000  # distinct PINs fetched; beyond that applicants are reused in turn
_PAGE = 1000
_LEGACY_PAGE = 100  # population databases without the `after` cursor allow at most 100


def probe_target(url: str, timeout_s: float = 5.0, tls: TlsCredentials | None = None) -> None:
    """One request before anything starts; strict connects as the load users will (client
    certificate, the target verified against `tls.ca_file`), so a wrong CA shows here."""
    verify: ssl.SSLContext | bool = True
    if tls is not None:
        verify = client_context(tls, present=(tls.cert_file, tls.key_file))
    try:
        httpx.get(url, timeout=timeout_s, verify=verify)
    except httpx.HTTPError as exc:
        if tls is not None and _is_tls_failure(exc):
            raise TargetUnreachable(
                f"the TLS handshake with --target {url} failed ({_bounded(exc)}); give "
                "--target-ca the CA that issued the agency's server certificate, and check "
                "that the agency trusts the sandbox CA for client certificates"
            ) from None
        reason = "connection refused" if isinstance(exc, httpx.ConnectError) else type(exc).__name__
        raise TargetUnreachable(
            f"nothing answers at --target {url} ({reason}); start the system under load "
            "or correct the URL"
        ) from None


def _is_tls_failure(exc: httpx.HTTPError) -> bool:
    cause = exc.__context__ or exc.__cause__
    while cause is not None and not isinstance(cause, ssl.SSLError):
        cause = cause.__context__ or cause.__cause__
    return cause is not None or "SSL" in str(exc) or "certificate" in str(exc)


def _bounded(exc: BaseException) -> str:
    return str(exc)[:200] or type(exc).__name__


def _admin(sandbox: SandboxEndpoints) -> dict[str, str]:
    return {"Authorization": f"Bearer {sandbox.admin_token}"}


def _mint(sandbox: SandboxEndpoints, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{sandbox.identity_url}/admin/tokens", json=body, headers=_admin(sandbox), timeout=10
    )


def mint_token(
    sandbox: SandboxEndpoints,
    *,
    audience: str,
    scope: str,
    lifetime_s: int,
    subject: str,
    agency_id: str | None = None,
    bound_to: str | None = None,
) -> str:
    """A token for the whole run. `agency_id` is the agency a resource server attributes
    calls to; an identity provider without that mint field falls back to the subject.
    `bound_to` (strict) is the x5t#S256 of the client certificate the token is bound to
    (RFC 8705 `cnf`)."""
    body: dict[str, Any] = {
        "audience": audience,
        "scope": scope,
        "lifetime_s": lifetime_s,
        "subject": subject,
    }
    if bound_to is not None:
        body["cnf_x5t_s256"] = bound_to
    try:
        reply = _mint(sandbox, body | ({"agency_id": agency_id} if agency_id else {}))
        if reply.status_code in (400, 422) and agency_id:
            reply = _mint(sandbox, body)
        token = reply.json().get("access_token") if reply.status_code == 200 else None
    except (httpx.HTTPError, ValueError, AttributeError):
        token = None
    if not isinstance(token, str):
        raise EnvironmentProblem(
            f"the sandbox identity provider at {sandbox.identity_url} did not mint a token "
            "for the load run; is the admin token in sandbox.json current?"
        )
    if bound_to is not None and _confirmation(token) != bound_to:
        raise EnvironmentProblem(
            f"the sandbox identity provider at {sandbox.identity_url} minted a token that is "
            "not bound to the harness's client certificate (no cnf x5t#S256); a strict "
            "agency would refuse every request — update the sandbox"
        )
    return token


def _confirmation(token: str) -> str | None:
    """The token's cnf x5t#S256, read without verifying: only to catch an identity
    provider that ignored the binding we asked for; the agency verifies the token."""
    try:
        part = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        value = claims["cnf"]["x5t#S256"]
    except (IndexError, ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, str) else None


def _page(sandbox: SandboxEndpoints, count: int, after: str | None) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"count": count}
    if after is not None:
        params["after"] = after
    reply = httpx.get(
        f"{sandbox.population_url}/admin/citizens/sample",
        params=params,
        headers=_admin(sandbox),
        timeout=30,
    )
    if reply.status_code == 400 and count > _LEGACY_PAGE:
        return _page(sandbox, _LEGACY_PAGE, None)
    if reply.status_code != 200:
        raise EnvironmentProblem(
            f"the sandbox population database answered {reply.status_code} to a citizen sample"
        )
    citizens = reply.json().get("citizens")
    return [c for c in citizens if isinstance(c, dict) and "pin" in c] if citizens else []


def sample_applicants(sandbox: SandboxEndpoints, wanted: int) -> list[dict[str, Any]]:
    """Real PINs of the population database, paged with `after` where it is supported;
    a database that ignores the cursor gives one page, which the run then cycles."""
    wanted = min(wanted, MAX_APPLICANTS)
    people: dict[str, dict[str, Any]] = {}
    after: str | None = None
    try:
        while len(people) < wanted:
            page = _page(sandbox, min(_PAGE, wanted - len(people)), after)
            fresh = [c for c in page if c["pin"] not in people]
            people.update((c["pin"], c) for c in fresh)
            if not fresh or len(page) < min(_PAGE, wanted) or after == page[-1]["pin"]:
                break
            after = page[-1]["pin"]
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        raise EnvironmentProblem(f"the citizen sample could not be read: {exc}") from None
    if not people:
        raise EnvironmentProblem(
            "the sandbox population database has no adult citizens to act as applicants"
        )
    return list(people.values())
