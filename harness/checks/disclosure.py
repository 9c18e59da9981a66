"""Error answers disclose nothing: no stack traces, no server versions, no personal data.

A rejected request is where frameworks in debug mode leak most: tracebacks with file
paths, `X-Powered-By: Framework/1.2.3`, and the caller's own PIN and name echoed back into
a body that ends up in logs and proxies (Decree 13/2023 on personal data).
"""

from __future__ import annotations

import json
import random
import re

from harness.checks.registry import check
from harness.context import CheckContext
from harness.errors import EnvironmentProblem, Failure
from harness.records import Finding
from harness.samples import probe_dossier
from harness.sandbox_api import agency_token
from harness.transport import Reply

__all__ = ["errors_disclose_nothing"]

_DEBUG_MARKERS = (
    re.compile(r"Traceback \(most recent call last\)"),
    re.compile(r'File "[^"]+", line \d+'),
    re.compile(r"\bat [\w.$]+\([\w$]+\.java:\d+\)"),
    re.compile(r"Exception in thread"),
    re.compile(r"<b>(?:Warning|Fatal error)</b>:"),
)
_VERSION_HEADERS = ("server", "x-powered-by", "x-aspnet-version", "x-aspnetmvc-version")
_VERSION = re.compile(r"\d+\.\d+")


def _error_probes(ctx: CheckContext) -> list[tuple[str, Reply, tuple[str, ...]]]:
    """Requests the agency must reject, and the personal data each one carried."""
    auth = {"Authorization": f"Bearer {agency_token(ctx)}"}
    invalid = probe_dossier(ctx)
    invalid["ChuHoSo"]["NgaySinh"] = "19901340"  # month 13
    personal = (invalid["ChuHoSo"]["SoDinhDanh"], invalid["ChuHoSo"]["HoVaTen"])
    url = ctx.target_url("/dossiers")
    return [
        (
            "an impossible date of birth",
            ctx.request("POST", url, json=invalid, headers=auth),
            personal,
        ),
        (
            "malformed JSON",
            ctx.request(
                "POST",
                url,
                content=b'{"MaHoSo": ',
                headers={**auth, "Content-Type": "application/json"},
            ),
            (),
        ),
        (
            "an unknown dossier",
            ctx.request("GET", ctx.target_url(f"/dossiers/{_unknown_code(ctx)}"), headers=auth),
            (),
        ),
        ("no token", ctx.request("POST", url, json=invalid), personal),
    ]


def _unknown_code(ctx: CheckContext) -> str:
    """A well-formed code no run submits: the harness's codes carry today's date, these
    31 Dec 2099, so an earlier run's dossier can never answer for it."""
    return f"{ctx.target.agency_id}-991231-{random.SystemRandom().randrange(10000):04d}"


def _leaks(reply: Reply, personal: tuple[str, ...]) -> list[str]:
    text = reply.response.text
    decoded = reply.json()
    if decoded is not None:  # \u-escaped JSON would hide a Vietnamese name from a plain search
        text += json.dumps(decoded, ensure_ascii=False)
    found = [f"debug output matching {m.pattern!r}" for m in _DEBUG_MARKERS if m.search(text)]
    found += [f"the caller's data {value[:3]}…" for value in personal if value in text]
    for name in _VERSION_HEADERS:
        value = reply.response.headers.get(name, "")
        if _VERSION.search(value):
            found.append(f"a version in the {name} header")
    return found


@check("SEC-ERROR-DISCLOSURE@1")
def errors_disclose_nothing(ctx: CheckContext) -> str:
    """Error answers carry no stack trace, server version or personal data of the caller."""
    findings = []
    for label, reply, personal in _error_probes(ctx):
        if reply.status < 400:
            raise EnvironmentProblem(
                f"the agency accepted {label} (HTTP {reply.status}); "
                "error answers could not be examined"
            )
        leaks = _leaks(reply, personal)
        if leaks:
            findings.append(
                Finding(
                    f"The error answer to {label} discloses {leaks[0]}",
                    observed="; ".join(leaks),
                    expected="a problem+json with no internals and "
                    "none of the caller's personal data",
                    exchange_ids=(reply.exchange_id,),
                )
            )
    if findings:
        raise Failure(*findings)
    return "4 error answers examined: no stack trace, server version or echoed personal data"
