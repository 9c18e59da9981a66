"""SEC-RATE-LIMIT: a client sending too fast is answered 429 with Retry-After, not a crash.

The rates are the contract's (`x-rate-limit` in specs/agency.yaml, token buckets): every
client is served at the `guaranteed` rate, and limited no later than it exceeds `limit_at`.
The check mints a token for a client of its own — a per-client limiter then leaves the
rest of the run alone — and sends GET /dossiers/{code} back to back: a bounded burst
(count and duration), sent only to a target on loopback unless the operator passes
`--allow-remote-burst` for a system they run. It stops at the first answer that decides:

- 429 with a valid Retry-After (delta-seconds or HTTP-date), after the guaranteed
  allowance → pass;
- 429 without a valid Retry-After, or before the guaranteed allowance → fail;
- 5xx, or no answer in time once the agency had been answering → fail;
- still served well past the `limit_at` allowance → fail (no limiting);
- the burst could not get past `limit_at` within its bounds (a slow machine or target) →
  error: the harness could not judge, and says how fast it got.
"""

from __future__ import annotations

import ipaddress
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import yaml

from harness._resources import data_dir
from harness.checks.registry import check
from harness.context import CheckContext
from harness.errors import ConfigError, EnvironmentProblem, Failure, Skip
from harness.records import Finding
from harness.samples import next_dossier_code
from harness.sandbox_api import agency_token, mint_token
from harness.transport import Reply, TransportFailure

__all__ = ["Rate", "RatePolicy", "load_policy", "rate_limit_enforced", "retry_after_seconds"]

MAX_REQUESTS = 1500
MAX_SECONDS = 5.0
SLACK = 1.25  # limiters differ (token bucket, sliding window): "well past" limit_at is this
SLACK_REQUESTS = 20
_REQUEST_TIMEOUT_S = 5.0
_RECOVERY_WAIT_S = 5.0  # the most a Retry-After is honoured for, whatever it says
_PROBE_CLIENT = "lienthong-rate-probe"
_DELTA = re.compile(r"^[0-9]{1,10}$")
_HTTP_DATES = ("%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %d %H:%M:%S %Y")
_UNJUDGEABLE = ("not-sent", "tls")  # transport failures that are ours or the set-up's


@dataclass(frozen=True, slots=True)
class Rate:
    per_s: float
    burst: int

    def allowance(self, elapsed_s: float) -> float:
        """How many requests a token bucket admits in `elapsed_s` from full."""
        return self.burst + self.per_s * elapsed_s


@dataclass(frozen=True, slots=True)
class RatePolicy:
    guaranteed: Rate
    limit_at: Rate

    def over_limit(self, sent: int, elapsed_s: float) -> bool:
        return sent > self.limit_at.allowance(elapsed_s) * SLACK + SLACK_REQUESTS

    def under_guarantee(self, served: int, elapsed_s: float) -> bool:
        return served < self.guaranteed.allowance(elapsed_s) / SLACK


def _rate(document: dict[str, Any], name: str) -> Rate:
    try:
        entry = document[name]
        return Rate(float(entry["per_s"]), int(entry["burst"]))
    except (KeyError, TypeError, ValueError):
        raise ConfigError(
            f"specs/agency.yaml: x-rate-limit.{name} must be {{per_s: <number>, burst: <int>}}"
        ) from None


@cache
def load_policy() -> RatePolicy:
    path = data_dir("specs") / "agency.yaml"
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")).get("x-rate-limit")
    except (OSError, yaml.YAMLError, AttributeError) as exc:
        raise ConfigError(f"cannot read x-rate-limit from {path}: {exc}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path} documents no x-rate-limit (guaranteed, limit_at)")
    return RatePolicy(_rate(document, "guaranteed"), _rate(document, "limit_at"))


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds a Retry-After value asks for; None when it is neither delta-seconds nor an
    HTTP-date (RFC 9110 §10.2.3, §5.6.7: IMF-fixdate, and the obsolete RFC 850 and asctime
    forms a recipient must also accept)."""
    text = (value or "").strip()
    if _DELTA.fullmatch(text):
        return float(text)
    for form in _HTTP_DATES:
        try:
            moment = datetime.strptime(text, form).replace(tzinfo=UTC)
        except ValueError:
            continue
        return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())
    return None


def is_loopback(base_url: str) -> bool:
    host = (urlsplit(base_url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class Burst:
    """What the burst saw: how many requests, how fast, and the answer that decided."""

    sent: int = 0
    elapsed_s: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)
    first_exchange: str = ""
    deciding: Reply | None = None
    cut_off: TransportFailure | None = None

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        deciding = self.deciding
        return {
            "sent": self.sent,
            "elapsed_s": round(self.elapsed_s, 3),
            "rate_per_s": round(self.rate, 1),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "deciding_status": deciding.status if deciding else None,
            "retry_after": deciding.response.headers.get("retry-after") if deciding else None,
            "cut_off": str(self.cut_off) if self.cut_off else None,
        }


def _probe_token(ctx: CheckContext) -> str:
    # mint_token binds the token to the run's client certificate in the strict profile.
    return mint_token(
        ctx,
        audience=ctx.settings.agency_audience,
        scope="dossier.read",
        lifetime_s=600,
        subject=_PROBE_CLIENT,
    )


def _send_burst(ctx: CheckContext, policy: RatePolicy, url: str, token: str) -> Burst:
    burst = Burst()
    auth = {"Authorization": f"Bearer {token}"}
    timeout_s = min(_REQUEST_TIMEOUT_S, ctx.settings.request_timeout_s)
    started = time.monotonic()
    while burst.sent < MAX_REQUESTS and time.monotonic() - started < MAX_SECONDS:
        try:
            reply = ctx.request("GET", url, headers=auth, timeout_s=timeout_s)
        except TransportFailure as exc:
            burst.cut_off = exc
            break
        finally:
            burst.elapsed_s = time.monotonic() - started
        burst.sent += 1
        burst.statuses[reply.status] = burst.statuses.get(reply.status, 0) + 1
        burst.first_exchange = burst.first_exchange or reply.exchange_id
        if not _served(reply) or policy.over_limit(burst.sent, burst.elapsed_s):
            burst.deciding = reply
            break
    return burst


def _served(reply: Reply) -> bool:
    """An ordinary answer to a read: the dossier, or a problem saying it is unknown. Not
    bytes that are no JSON at all — a hostile target's, which would only bloat evidence."""
    body = reply.response.content
    return reply.status in (200, 404) and (not body.strip() or reply.json() is not None)


def _unjudgeable(policy: RatePolicy, burst: Burst) -> str | None:
    """Why the burst says nothing about rate limiting, if it does not."""
    if burst.cut_off is not None and (burst.sent == 0 or burst.cut_off.kind in _UNJUDGEABLE):
        return f"the burst could not be sent: {burst.cut_off}"
    first = burst.deciding
    if burst.sent == 1 and first is not None and first.status != 429:
        return (
            f"the burst's first request was answered HTTP {first.status} without a usable "
            "body, before any load: nothing to judge a rate limit against"
        )
    if first is None and burst.cut_off is None:
        return (
            f"the burst reached only {burst.rate:.0f} requests/s ({burst.sent} in "
            f"{burst.elapsed_s:.1f} s), too slow to exceed x-rate-limit.limit_at "
            f"({policy.limit_at.burst} + {policy.limit_at.per_s:g}/s); run the harness "
            "closer to the target or on a less loaded machine"
        )
    return None


def _judge(policy: RatePolicy, burst: Burst) -> Finding | None:
    reply, served = burst.deciding, burst.sent - 1
    pace = f"after {burst.sent} requests in {burst.elapsed_s:.2f} s ({burst.rate:.0f}/s)"
    if burst.cut_off is not None:
        return Finding(
            "Under a burst from one client the agency stopped answering instead of limiting it",
            f"{burst.cut_off} {pace}",
            "429 with Retry-After once the client exceeds x-rate-limit.limit_at",
            (burst.first_exchange, burst.cut_off.exchange_id),
        )
    assert reply is not None
    ids = (burst.first_exchange, reply.exchange_id)
    if _served(reply):
        return Finding(
            "One client far over the documented rate was never limited",
            f"every request served {pace}; limit_at allows {policy.limit_at.burst} at once "
            f"and {policy.limit_at.per_s:g}/s",
            "429 with Retry-After before the client exceeds x-rate-limit.limit_at",
            ids,
        )
    if reply.status >= 500:
        return Finding(
            f"A client over its rate was answered {reply.status}, a server error, not 429",
            f"HTTP {reply.status} {pace}",
            "429 Too Many Requests with Retry-After (RFC 6585 §4): the client, not the "
            "server, is at fault",
            ids,
        )
    if reply.status != 429:
        return Finding(
            "Under a burst from one client the agency answered neither normally nor 429",
            f"HTTP {reply.status} {pace}",
            "the usual answer while within the rate, then 429 with Retry-After",
            ids,
        )
    if policy.under_guarantee(served, burst.elapsed_s):
        return Finding(
            "A client was limited below the rate the contract guarantees",
            f"429 {pace}; only {served} served",
            f"at least {policy.guaranteed.burst} at once and {policy.guaranteed.per_s:g}/s "
            "(x-rate-limit.guaranteed) served before any 429",
            ids,
        )
    value = reply.response.headers.get("retry-after")
    if retry_after_seconds(value) is None:
        return Finding(
            "A 429 came without a valid Retry-After",
            f"Retry-After: {value!r}" if value is not None else "no Retry-After header",
            "Retry-After as delta-seconds (e.g. 1) or an HTTP-date (RFC 9110 §10.2.3)",
            ids,
        )
    return None


def _recover(ctx: CheckContext, url: str, retry_after: float) -> bool:
    """Leave the target as found: if the run's own client is limited too (the agency
    limits more broadly than per client), wait as told — bounded — until it is served."""
    auth = {"Authorization": f"Bearer {agency_token(ctx)}"}
    for _ in range(3):
        try:
            reply = ctx.request("GET", url, headers=auth)
        except TransportFailure:
            return False
        if reply.status != 429:
            return True
        time.sleep(min(retry_after or 1.0, _RECOVERY_WAIT_S))
    return False


@check("SEC-RATE-LIMIT@1")
def rate_limit_enforced(ctx: CheckContext) -> str:
    """One client over the documented rate is answered 429 with Retry-After, not 5xx."""
    policy = load_policy()
    if not (is_loopback(ctx.target.base_url) or ctx.settings.allow_remote_burst):
        raise Skip(
            f"the rate-limit burst ({MAX_REQUESTS} requests in {MAX_SECONDS:g} s at most) is "
            f"sent beyond this machine only with --allow-remote-burst; "
            f"{ctx.target.base_url} is not on loopback — pass it if you operate that system, "
            "or certify a deployment on 127.0.0.1"
        )
    url = ctx.target_url(f"/dossiers/{next_dossier_code(ctx)}")
    burst = _send_burst(ctx, policy, url, _probe_token(ctx))
    evidence = ctx.observe("rate-limit-burst", {"policy": _policy_dict(policy), **burst.as_dict()})
    unjudgeable = _unjudgeable(policy, burst)
    if unjudgeable:
        raise EnvironmentProblem(unjudgeable)
    finding = _judge(policy, burst)
    if finding is not None:
        ids = (evidence, *finding.exchange_ids)
        raise Failure(Finding(finding.title, finding.observed, finding.expected, ids))
    assert burst.deciding is not None
    wait = retry_after_seconds(burst.deciding.response.headers.get("retry-after")) or 0.0
    recovered = _recover(ctx, url, wait)
    return (
        f"429 with Retry-After: {burst.deciding.response.headers.get('retry-after')} after "
        f"{burst.sent} requests in {burst.elapsed_s:.2f} s ({burst.rate:.0f}/s)"
        + ("" if recovered else "; the run's own client stayed limited afterwards")
    )


def _policy_dict(policy: RatePolicy) -> dict[str, Any]:
    return {
        "guaranteed": {"per_s": policy.guaranteed.per_s, "burst": policy.guaranteed.burst},
        "limit_at": {"per_s": policy.limit_at.per_s, "burst": policy.limit_at.burst},
    }
