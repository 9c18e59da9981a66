"""The harness's side of the sandbox admin API: tokens, applicants, logs to judge by."""

from __future__ import annotations

from typing import Any

from harness.context import CheckContext
from harness.errors import EnvironmentProblem

__all__ = [
    "agency_token",
    "audit_entries",
    "last_audit_id",
    "mint_token",
    "sample_citizens",
    "sync_records",
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


def mint_token(
    ctx: CheckContext,
    *,
    audience: str,
    scope: str = _AGENCY_SCOPES,
    lifetime_s: int = 3600,
    issued_offset_s: int = 0,
    issuer: str | None = None,
) -> str:
    body: dict[str, Any] = {
        "audience": audience,
        "scope": scope,
        "lifetime_s": lifetime_s,
        "issued_offset_s": issued_offset_s,
        "subject": "lienthong-portal",
    }
    if issuer:
        body["issuer"] = issuer
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
