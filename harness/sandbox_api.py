"""The harness's side of the sandbox admin API: tokens, applicants, logs to judge by."""

from __future__ import annotations

from typing import Any

from harness.context import CheckContext
from harness.errors import EnvironmentProblem
from harness.tls import certificate_thumbprint

__all__ = [
    "agency_token",
    "audit_entries",
    "grant_consent",
    "last_audit_id",
    "mint_token",
    "purpose_catalogue",
    "run_thumbprint",
    "sample_citizens",
    "sync_records",
    "withdraw_consent",
]

_AGENCY_SCOPES = "dossier.submit dossier.read"


def _admin_get(ctx: CheckContext, url: str, params: dict[str, Any]) -> Any:
    reply = ctx.request(
        "GET", url, params=params, headers={"Authorization": f"Bearer {ctx.sandbox.admin_token}"}
    )
    if reply.status != 200:
        raise EnvironmentProblem(
            f"the sandbox answered {reply.status} to GET {url}; "
            "is the admin token in sandbox.json current?"
        )
    return reply.json()


def _admin_post(ctx: CheckContext, url: str, body: dict[str, Any]) -> Any:
    reply = ctx.request(
        "POST", url, json=body, headers={"Authorization": f"Bearer {ctx.sandbox.admin_token}"}
    )
    if reply.status not in (200, 201):
        raise EnvironmentProblem(
            f"the sandbox answered {reply.status} to POST {url}; "
            "is the admin token in sandbox.json current?"
        )
    return reply.json()


def mint_token(
    ctx: CheckContext,
    *,
    audience: str,
    scope: str = _AGENCY_SCOPES,
    lifetime_s: int = 3600,
    issued_offset_s: int = 0,
    issuer: str | None = None,
    subject: str = "lienthong-portal",
    bound_to: str | None = None,
    unbound: bool = False,
) -> str:
    """A token from the sandbox identity provider. In the strict profile it is bound to
    the harness's client certificate (RFC 8705), or to `bound_to`, unless `unbound`."""
    body: dict[str, Any] = {
        "audience": audience,
        "scope": scope,
        "lifetime_s": lifetime_s,
        "issued_offset_s": issued_offset_s,
        "subject": subject,
    }
    if issuer:
        body["issuer"] = issuer
    confirmation = bound_to or (None if unbound else run_thumbprint(ctx))
    if confirmation:
        body["cnf_x5t_s256"] = confirmation
    reply = ctx.request(
        "POST",
        f"{ctx.sandbox.identity_url}/admin/tokens",
        json=body,
        headers={"Authorization": f"Bearer {ctx.sandbox.admin_token}"},
    )
    data = reply.json()
    if reply.status != 200 or not isinstance(data, dict) or "access_token" not in data:
        raise EnvironmentProblem(
            f"the sandbox identity provider refused to mint a token ({reply.status})"
        )
    return str(data["access_token"])


def run_thumbprint(ctx: CheckContext) -> str | None:
    """x5t#S256 of the client certificate this run presents (strict), else None."""
    tls = ctx.settings.tls
    if not ctx.settings.strict or tls is None:
        return None
    return ctx.memo("client-thumbprint", lambda _: certificate_thumbprint(tls.cert_file))


def agency_token(ctx: CheckContext) -> str:
    """A valid token for the target, as the portal would present it (one per run)."""
    return ctx.memo("agency-token", lambda c: mint_token(c, audience=c.settings.agency_audience))


def sample_citizens(ctx: CheckContext, count: int) -> list[dict[str, Any]]:
    data = _admin_get(ctx, f"{ctx.sandbox.population_url}/admin/citizens/sample", {"count": count})
    citizens = data.get("citizens") if isinstance(data, dict) else None
    if not citizens:
        raise EnvironmentProblem(
            "the sandbox population database has no adult citizens; "
            "regenerate it with a larger population"
        )
    return list(citizens)


_AUDIT_PAGE = 1000
_AUDIT_PAGES = 50  # a bound, not a guess: 50,000 entries for one client and one PIN


def audit_entries(
    ctx: CheckContext, client_id: str, *, pin: str, after_id: int = 0
) -> list[dict[str, Any]]:
    """The client's audit entries for one PIN with an id above `after_id`, oldest first."""
    entries: list[dict[str, Any]] = []
    for _ in range(_AUDIT_PAGES):
        params = {"client_id": client_id, "pin": pin, "after_id": after_id, "limit": _AUDIT_PAGE}
        data = _admin_get(ctx, f"{ctx.sandbox.population_url}/admin/audit", params)
        page = list(data.get("entries", [])) if isinstance(data, dict) else []
        entries += page
        if len(page) < _AUDIT_PAGE:
            return entries
        after_id = int(page[-1]["id"])
    raise EnvironmentProblem(
        f"more than {_AUDIT_PAGES * _AUDIT_PAGE} audit entries for one "
        "applicant; use a fresh sandbox state directory"
    )


def last_audit_id(ctx: CheckContext, client_id: str, *, pin: str) -> int:
    """Where this run's audit history starts: earlier runs must not count as evidence."""
    entries = audit_entries(ctx, client_id, pin=pin)
    return max((int(e["id"]) for e in entries), default=0)


def sync_records(ctx: CheckContext, dossier_code: str) -> list[dict[str, Any]]:
    data = _admin_get(
        ctx, f"{ctx.sandbox.portal_url}/admin/syncs", {"dossier_code": dossier_code, "limit": 1000}
    )
    return list(data.get("records", [])) if isinstance(data, dict) else []


def grant_consent(
    ctx: CheckContext, pin: str, *, purpose: str, fields: list[str], valid_for_s: int = 3600
) -> str:
    """A VNeID consent of citizen `pin` for the target agency, as the citizen would give it
    in the VNeID app; returns its id."""
    body = {
        "pin": pin,
        "client_id": ctx.target.agency_id,
        "purpose": purpose,
        "fields": fields,
        "valid_for_s": valid_for_s,
    }
    data = _admin_post(ctx, f"{ctx.sandbox.population_url}/admin/consents", body)
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise EnvironmentProblem("the sandbox population database granted no consent id")
    return str(data["id"])


def withdraw_consent(ctx: CheckContext, consent_id: str) -> None:
    """The citizen withdraws the consent (as in the VNeID app)."""
    url = f"{ctx.sandbox.population_url}/admin/consents/{consent_id}/withdraw"
    _admin_post(ctx, url, {})


def purpose_catalogue(ctx: CheckContext) -> dict[str, frozenset[str]]:
    """Purpose → the fields a lookup under it may release, as the database publishes it."""

    def fetch(c: CheckContext) -> dict[str, frozenset[str]]:
        token = mint_token(c, audience="urn:lienthong:population", scope="citizen.verify")
        reply = c.request(
            "GET",
            f"{c.sandbox.population_url}/v1/purposes",
            headers={"Authorization": f"Bearer {token}"},
        )
        data = reply.json() if reply.status == 200 else None
        purposes = data.get("purposes") if isinstance(data, dict) else None
        if not isinstance(purposes, dict):
            raise EnvironmentProblem(
                f"the sandbox population database answered {reply.status} to GET /v1/purposes"
            )
        return {str(k): frozenset(map(str, v)) for k, v in purposes.items()}

    return ctx.memo("purpose-catalogue", fetch)
