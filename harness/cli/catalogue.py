"""`lienthong catalogue`: does the harness catch every fault it claims to?

Certifies the reference agency (in the baseline and the strict profile) and every
catalogue fault (in the profile that must catch it) against one embedded sandbox, prints
the fault × detected-requirement table and the detection rate, and exits 0 only when the
reference passes everything and each fault fails exactly its intended requirement(s).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from harness.cli.app import console
from harness.context import RunSettings, SandboxEndpoints
from harness.outcomes import Outcome
from harness.records import RunResult, Target
from harness.runner import certify

if TYPE_CHECKING:
    from simulators.agencies.catalogue import Behaviour

__all__ = ["run_catalogue"]


@dataclass(frozen=True, slots=True)
class Row:
    name: str
    intended: frozenset[str]
    failed: frozenset[str]
    verdict: Outcome
    profile: str = "baseline"

    @property
    def is_reference(self) -> bool:
        return not self.intended

    @property
    def caught(self) -> bool:
        if self.is_reference:
            return self.verdict is Outcome.PASS
        return self.failed == self.intended


def _failed(run: RunResult) -> frozenset[str]:
    return frozenset(r.requirement.key for r in run.requirements if r.outcome is Outcome.FAIL)


def _cases() -> list[tuple[str, str, frozenset[str], Behaviour]]:
    """(name, profile, intended failures, behaviour): the reference in both profiles, then
    every fault in the profile that must catch it."""
    from simulators.agencies.catalogue import FAULTS, REFERENCE, STRICT_REFERENCE

    none = frozenset[str]()
    return [
        ("reference", "baseline", none, REFERENCE),
        ("reference-strict", "strict", none, STRICT_REFERENCE),
    ] + [(f.name, f.profile, frozenset(f.breaks), f.behaviour) for f in FAULTS.values()]


def _certify_all(out: Path, examples: int, sync_timeout_s: float) -> list[Row]:
    from harness.cli.certify import tls_credentials
    from simulators.identity.credentials import issue_credentials
    from simulators.sandbox import Sandbox

    rows = []
    with tempfile.TemporaryDirectory() as state, Sandbox(Path(state)) as sandbox:
        info = sandbox.info
        endpoints = SandboxEndpoints(
            info.identity_url, info.population_url, info.portal_url, info.admin_token
        )
        for index, (name, profile, intended, behaviour) in enumerate(_cases()):
            agency_id = f"000.00.{index:02d}.C99"
            agency = sandbox.start_agency(
                issue_credentials(Path(state), agency_id), behaviour=behaviour, name=name
            )
            settings = RunSettings(
                target=Target(agency.url, agency_id),
                sandbox=endpoints,
                out_dir=out / name,
                examples=examples,
                sync_timeout_s=sync_timeout_s,
                profile=profile,
                tls=tls_credentials(Path(state)) if profile == "strict" else None,
            )
            run = certify(settings)
            rows.append(Row(name, intended, _failed(run), run.verdict, profile))
            console.print(f"  {'✓' if rows[-1].caught else '✗'} {name}")
    return rows


def _table(rows: list[Row]) -> Table:
    table = Table(title="fault × detected requirement")
    for column in ("agency", "profile", "intended to break", "failed", "verdict", "caught"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.name,
            row.profile,
            ", ".join(sorted(row.intended)) or "—",
            ", ".join(sorted(row.failed)) or "—",
            row.verdict.value,
            "[green]yes[/]" if row.caught else "[red]NO[/]",
        )
    return table


def run_catalogue(*, out: Path, examples: int, sync_timeout_s: float) -> int:
    console.print("certifying the reference agency and every catalogue fault")
    rows = _certify_all(out, examples, sync_timeout_s)
    console.print(_table(rows))
    faults = [r for r in rows if not r.is_reference]
    caught = sum(r.caught for r in faults)
    reference_ok = all(r.caught for r in rows if r.is_reference)
    console.print(
        f"detection rate {caught}/{len(faults)} ({100 * caught / len(faults):.0f}%); "
        f"reference {'passes' if reference_ok else 'does NOT pass'} (baseline and strict)"
    )
    return 0 if reference_ok and caught == len(faults) else 1
