"""How long one certification of the reference agency takes, end to end, in-process.

Prints the median and spread over several runs (the machines are noisy), with the share
spent in contract fuzzing, token checks and the dossier journey. `--profile strict`
serves the reference agency over mutual TLS with certificate-bound tokens and RFC 9421
signatures, and adds the strict checks.

    python benchmarks/certify_reference.py [--runs 5] [--examples 20] [--profile strict]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from harness.cli.certify import tls_credentials
from harness.context import RunSettings, SandboxEndpoints
from harness.records import Target
from harness.runner import certify
from simulators.agencies.catalogue import REFERENCE, STRICT_REFERENCE
from simulators.identity.credentials import issue_credentials
from simulators.sandbox import Sandbox

_GROUPS = {
    "contract": ("no_server_errors", "contract_conformance", "invalid_data_rejected"),
    "tokens": (
        "token_required",
        "token_expiry_enforced",
        "token_audience_enforced",
        "token_signature_verified",
        "token_not_before_enforced",
        "token_issuer_enforced",
        "unsigned_token_refused",
        "token_scope_enforced",
    ),
    "idempotency": ("resubmission_is_idempotent",),
    "disclosure": ("errors_disclose_nothing",),
    "resilience": (
        "transient_outage_survived",
        "portal_outage_survived",
        "retry_after_honoured",
        "slow_population_survived",
        "slow_portal_survived",
    ),
    "scenarios": ("scenarios_followed",),
    "results": ("results_delivered",),
    "lifecycle": ("lifecycle_respected",),
    "rate limit": ("rate_limit_enforced",),
    # The consent scenario: a dossier paused at 5, the consent withdrawn, a supplement.
    "consent": ("consent_respected",),
    "strict": (
        "legacy_tls_refused",
        "client_certificate_required",
        "token_binding_enforced",
        "signatures_required",
        "tampered_body_refused",
        "stale_signature_refused",
        "replayed_request_refused",
    ),
}


def _group(check: str) -> str:
    return next((g for g, names in _GROUPS.items() if check in names), "journey")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--examples", type=int, default=20)
    parser.add_argument("--profile", choices=("baseline", "strict"), default="baseline")
    args = parser.parse_args()
    strict = args.profile == "strict"
    with tempfile.TemporaryDirectory() as tmp, Sandbox(Path(tmp) / "state") as sandbox:
        info = sandbox.info
        endpoints = SandboxEndpoints(
            info.identity_url, info.population_url, info.portal_url, info.admin_token
        )
        agency = sandbox.start_agency(
            issue_credentials(sandbox.state_dir, "000.00.01.H29"),
            behaviour=STRICT_REFERENCE if strict else REFERENCE,
        )
        totals: list[float] = []
        parts: dict[str, list[float]] = defaultdict(list)
        for run in range(args.runs):
            settings = RunSettings(
                target=Target(agency.url, "000.00.01.H29"),
                sandbox=endpoints,
                out_dir=Path(tmp) / f"run{run}",
                examples=args.examples,
                seed=run,
                profile=args.profile,
                tls=tls_credentials(sandbox.state_dir) if strict else None,
            )
            started = time.perf_counter()
            result = certify(settings)
            totals.append(time.perf_counter() - started)
            assert result.verdict.value == "pass", result.verdict
            spent: dict[str, float] = defaultdict(float)
            for check in result.checks:
                spent[_group(check.check)] += check.duration_s
            for group, seconds in spent.items():
                parts[group].append(seconds)
    print(
        f"certify reference agency, profile {args.profile}, "
        f"{args.examples} examples/operation/mode, {args.runs} runs"
    )
    print(
        f"  total   median {statistics.median(totals):6.2f} s   "
        f"min {min(totals):6.2f} s   max {max(totals):6.2f} s"
    )
    for group, values in sorted(parts.items()):
        print(f"  {group:12} median {statistics.median(values):6.2f} s")


if __name__ == "__main__":
    main()
