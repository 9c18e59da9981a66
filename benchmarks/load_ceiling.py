"""The load harness's ceiling on this machine, beside plain locust, and the reference
stack's sustained throughput.

    python benchmarks/load_ceiling.py --runs 3 --seconds 10

1. One locust process of the harness (`python -m harness.load.worker local`: paced users,
   per-second recorder, snapshots) against a minimal raw-asyncio endpoint, alternating
   with a plain locust FastHttpUser file sending the same requests, same users, same
   duration. Medians of `--runs`; the ratio is harness / plain.
2. The harness (`run_load`, with token minting and applicant sampling) against the
   reference agency and the reference portal, offered more than they can take: what they
   sustain, and at which latency.
Figures, not assertions: nothing here decides a test.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
USERS = 50


def _flat_profile(name: str, seconds: float, offered_rps: float, users: int) -> dict[str, Any]:
    """A profile offering `offered_rps` for `seconds` (at scale 1): more than the target takes."""
    from harness.load.profiles import load_profile

    base = load_profile("status-sync" if name == "status-sync" else "admission-2025").raw
    document = copy.deepcopy(base)
    compress = 3600.0 / seconds
    kinds = ["sync-new", "sync-advance"] if name == "status-sync" else ["submit", "status"]
    document["name"] = f"bench-{name}"
    document["volume"] = {
        "total": round(offered_rps * 3600 / compress),
        "unit": "requests",
        "kinds": kinds,
        "share_in_window": 1.0,
        "window_h": [0, 1],
    }
    document["calendar"] = {"reference": "benchmark", "points": [[0, 1], [1, 1]], "peak_end_h": 1}
    document["mix"] = {k: 1 for k in kinds}
    document.pop("mix_after_peak", None)
    document["pacing"] = {"requests_per_user_s": offered_rps / users, "max_users": users}
    return document


def _minimal_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "load_minimal_server.py")], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def _plain(url: str, seconds: float) -> float:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(HERE / "load_plain_locustfile.py"),
            "--headless",
            "-u",
            str(USERS),
            "-r",
            str(USERS),
            "-t",
            f"{seconds:g}s",
            "--host",
            url,
            "--only-summary",
            "--json",
            "--loglevel",
            "ERROR",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    entries = json.loads(done.stdout)
    return sum(int(e["num_requests"]) for e in entries) / seconds


def _harness(url: str, seconds: float, out: Path) -> float:
    from harness.load.config import RunConfig

    profile = _flat_profile("agency", seconds, 100_000.0, USERS)
    config = RunConfig(
        target_url=url,
        profile=profile,
        scale=1.0,
        compress=3600.0 / seconds,
        agency_id="000.00.01.H29",
        procedure_code="1.004194",
        auth={"kind": "bearer", "token": "bench"},
        out_dir=str(out),
    )
    config.write(out / "config.json")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.load.worker",
            "local",
            "--config",
            str(out / "config.json"),
        ],
        check=True,
        timeout=seconds + 60,
        capture_output=True,
    )
    timeline = json.loads((out / "timeline.json").read_text(encoding="utf-8"))
    return int(timeline["totals"]["requests"]) / seconds


def _ceiling(runs: int, seconds: float) -> dict[str, Any]:
    server, url = _minimal_server()
    harness, plain = [], []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for n in range(runs):
                plain.append(_plain(url, seconds))
                harness.append(_harness(url, seconds, Path(tmp)))
                print(
                    f"  run {n + 1}: plain {plain[-1]:.0f} req/s, harness {harness[-1]:.0f} req/s"
                )
    finally:
        server.terminate()
        server.wait()
    return {
        "harness": statistics.median(harness),
        "plain": statistics.median(plain),
        "harness_runs": harness,
        "plain_runs": plain,
    }


def _reference(seconds: float, offered: float) -> dict[str, Any]:
    from harness.context import SandboxEndpoints
    from harness.load.engine import LoadOptions, run_load
    from harness.load.profiles import profile_from_dict
    from simulators.identity.credentials import issue_credentials
    from simulators.sandbox import Sandbox

    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, Sandbox(Path(tmp) / "state") as sandbox:
        agency = sandbox.start_agency(issue_credentials(Path(tmp) / "state", "000.00.01.H29"))
        info = sandbox.info
        endpoints = SandboxEndpoints(
            info.identity_url, info.population_url, info.portal_url, info.admin_token
        )
        for name, url in (("agency", agency.url), ("status-sync", info.portal_url)):
            profile = profile_from_dict(_flat_profile(name, seconds, offered, USERS))
            result = run_load(
                LoadOptions(
                    target_url=url,
                    profile=profile,
                    scale=1.0,
                    compress=3600.0 / seconds,
                    agency_id="000.00.01.H29",
                    out_dir=Path(tmp) / name,
                    sandbox=endpoints,
                )
            )
            totals = result.totals
            succeeded = (totals.completed - totals.failed) / max(1, totals.measured_s)
            figures[name] = {
                "succeeded_rps": succeeded,
                "p95_ms": totals.p95_ms,
                "failed": totals.failed,
            }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--reference-offered", type=float, default=2000.0)
    args = parser.parse_args()
    print(f"ceiling: {USERS} users, {args.seconds:g} s per run, {args.runs} runs each")
    ceiling = _ceiling(args.runs, args.seconds)
    ratio = ceiling["harness"] / ceiling["plain"]
    print(
        f"harness worker process: median {ceiling['harness']:.0f} req/s; plain locust "
        f"{ceiling['plain']:.0f} req/s; ratio {ratio:.0%}"
    )
    reference = _reference(args.seconds, args.reference_offered)
    for name, f in reference.items():
        print(
            f"reference {name}: sustained {f['succeeded_rps']:.0f} successful req/s, "
            f"p95 {f['p95_ms']} ms, {f['failed']} failed (offered {args.reference_offered:g}/s)"
        )


if __name__ == "__main__":
    main()
