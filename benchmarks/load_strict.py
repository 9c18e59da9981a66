"""What the strict security profile costs a load run: the same flat load against a
baseline and a strict reference agency, and the signing alone.

    python benchmarks/load_strict.py --runs 3 --seconds 10

Starts `lienthong sandbox` and two `lienthong agency run` processes (one `--profile
strict`) as a deployment would, then, alternating baseline and strict, runs `run_load`
with a flat profile at several offered rates: one the agencies take comfortably (latency
is the cost), one near the baseline agency's capacity and under its rate limit, and one
far beyond both (what is sustained; the baseline agency then also answers 429 past its
per-client limit of 150/s, which the strict one, slower, rarely reaches). Medians of
`--runs`. Then times, in this process, what one strict request costs the harness
(`SignedAuth.headers`: an httpx request built and signed) and the agency
(`verify_signature`). Figures, not assertions: nothing here decides a test.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from load_ceiling import USERS, _flat_profile, _minimal_server  # noqa: E402

AGENCIES = {"baseline": "000.00.01.H29", "strict": "000.00.06.H29"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(ready: Any, what: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up within {timeout_s:.0f} s")


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def _spawn(state: Path, name: str, *args: str) -> subprocess.Popen[bytes]:
    with (state / f"{name}.log").open("ab") as log:
        command = [sys.executable, "-m", "harness.cli", *args, "--state-dir", str(state)]
        return subprocess.Popen(command, stdout=log, stderr=log)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(15)


@contextmanager
def _sandbox(state: Path) -> Iterator[None]:
    from harness.cli.certify import tls_credentials

    # The harness's client certificate first, so the strict agency knows the signer at once.
    tls_credentials(state)
    proc = _spawn(state, "sandbox", "sandbox", "--population", "2000", "--port-base", "0")
    try:
        _wait((state / "sandbox.json").exists, "the sandbox")
        yield
    finally:
        _stop(proc)


@contextmanager
def _agency(state: Path, profile: str) -> Iterator[str]:
    """A fresh `agency run` process per run, so no run inherits another's backlog, rate
    buckets or remembered nonces (see the NonceLedger figure at the end)."""
    port = _free_port()
    proc = _spawn(state, f"agency-{profile}", "agency", "run", "--agency-id", AGENCIES[profile],
                  "--port", str(port), "--profile", profile)  # fmt: skip
    try:
        _wait(lambda: _listening(port), f"the {profile} agency")
        yield f"{'https' if profile == 'strict' else 'http'}://127.0.0.1:{port}"
    finally:
        _stop(proc)


def _settle(url: str, tls: Any, timeout_s: float = 180.0) -> None:
    """Wait until the agency answers within 1 s three times in a row: after a run it is
    still verifying and syncing the dossiers it accepted, and answers slowly meanwhile."""
    from harness.errors import TargetUnreachable
    from harness.load.prepare import probe_target

    deadline, quick = time.monotonic() + timeout_s, 0
    while quick < 3:
        try:
            probe_target(url, timeout_s=1.0, tls=tls)
            quick += 1
        except TargetUnreachable:
            if time.monotonic() > deadline:
                raise
            quick = 0
        time.sleep(1.0)


def _one_run(state: Path, profile: str, offered: float, seconds: float) -> dict[str, Any]:
    with _agency(state, profile) as url:
        return _measure(state, profile, url, offered, seconds)


def _measure(state: Path, profile: str, url: str, offered: float, seconds: float) -> dict[str, Any]:
    from harness.cli.certify import tls_credentials
    from harness.context import SandboxEndpoints
    from harness.load.engine import LoadOptions, run_load
    from harness.load.profiles import profile_from_dict

    tls = tls_credentials(state) if profile == "strict" else None
    _settle(url, tls)
    info = json.loads((state / "sandbox.json").read_text(encoding="utf-8"))
    endpoints = SandboxEndpoints(
        info["identity_url"], info["population_url"], info["portal_url"], info["admin_token"]
    )
    with tempfile.TemporaryDirectory() as out:
        result = run_load(
            LoadOptions(
                target_url=url,
                profile=profile_from_dict(_flat_profile("agency", seconds, offered, USERS)),
                scale=1.0,
                compress=3600.0 / seconds,
                agency_id=AGENCIES[profile],
                out_dir=Path(out),
                sandbox=endpoints,
                tls=tls,
            )
        )
    totals = result.totals
    return {
        "ok_rps": (totals.completed - totals.failed) / max(1, totals.measured_s),
        "p99_ms": totals.p99_ms,
        "failed": totals.failed,
        "errors": result.errors[:2],
    }


def _show(label: str, f: dict[str, Any]) -> None:
    errors = f"; errors {f['errors']}" if f["errors"] else ""
    print(f"  {label}: {f['ok_rps']:.1f} ok req/s, p99 {f['p99_ms']} ms, "
          f"{f['failed']} failed{errors}", flush=True)  # fmt: skip


def _compare(state: Path, offered: float, runs: int, seconds: float) -> None:
    figures: dict[str, list[dict[str, Any]]] = {p: [] for p in AGENCIES}
    for n in range(runs):
        for profile in AGENCIES:  # alternating, so drift hits both alike
            figures[profile].append(_one_run(state, profile, offered, seconds))
            _show(f"offered {offered:g}/s run {n + 1} {profile:8}", figures[profile][-1])
    for profile, runs_ in figures.items():
        rps = statistics.median(r["ok_rps"] for r in runs_)
        p99 = statistics.median(r["p99_ms"] or 0.0 for r in runs_)
        failed = sum(r["failed"] for r in runs_)
        print(f"offered {offered:g}/s {profile:8}: median {rps:.1f} successful req/s, "
              f"median p99 {p99:.0f} ms, {failed} failed over {runs} runs")  # fmt: skip


def _per_request_costs(state: Path, repeat: int = 2000) -> None:
    """One signed request's cost on each side, in this process, without the network."""
    from harness.cli.certify import tls_credentials
    from harness.load.auth import build_auth, signed_spec
    from simulators.agencies.signatures import NonceLedger, SignerRegistry, verify_signature
    from simulators.common.pki import SandboxPki

    tls = tls_credentials(state)
    auth = build_auth(signed_spec("token", tls), "https://127.0.0.1:8710")
    body = json.dumps({"MaHoSo": "000.00.06.H29-251126-0001", "DuLieuHoSo": {"x": 1}}).encode()
    sign_s = timeit.timeit(lambda: auth.headers("POST", "/dossiers", body), number=repeat)
    library_s = timeit.timeit(lambda: _library_sign(tls, body), number=repeat)
    registry, nonces = SignerRegistry(SandboxPki(state / "pki")), NonceLedger(window_s=1e9)
    signed = [auth.headers("POST", "/dossiers", body) for _ in range(repeat)]
    started = time.perf_counter()
    for headers in signed:
        verify_signature(method="POST", url="https://127.0.0.1:8710/dossiers",
                         headers=list(headers.items()), body=body, registry=registry,
                         nonces=nonces)  # fmt: skip
    verify_s = time.perf_counter() - started
    print(f"per request: load signer (SignedAuth.headers) {sign_s / repeat * 1e6:.0f} µs; "
          f"harness.signing.RequestSigner on an httpx request {library_s / repeat * 1e6:.0f} µs; "
          f"agency verify_signature {verify_s / repeat * 1e6:.0f} µs")  # fmt: skip


_SIGNERS: dict[Path, Any] = {}


def _library_sign(tls: Any, body: bytes) -> None:
    """What certification does per request (harness.signing), for comparison."""
    import httpx

    from harness.signing import RequestSigner

    signer = _SIGNERS.get(tls.key_file)
    if signer is None:
        signer = _SIGNERS[tls.key_file] = RequestSigner.from_files(tls.cert_file, tls.key_file)
    signer.sign(httpx.Request("POST", "https://127.0.0.1:8710/dossiers", content=body))


def _nonce_ledger() -> None:
    """The strict agency's replay ledger: what one first_use costs as nonces pile up within
    its window (330 s: a long strict run at 100 req/s holds 33,000)."""
    from simulators.agencies.signatures import NonceLedger

    for held in (5_000, 20_000, 40_000):
        ledger = NonceLedger()
        for n in range(held):
            ledger.first_use("keyid", f"held-{n}")
        print(f"agency NonceLedger.first_use holding {held:,} nonces: "
              f"{_first_use_s(ledger) * 1e6:,.0f} µs")  # fmt: skip


def _first_use_s(ledger: Any, repeat: int = 200) -> float:
    return (
        timeit.timeit(lambda: ledger.first_use("keyid", os.urandom(9).hex()), number=repeat)
        / repeat
    )


def _generator_ceiling(state: Path, seconds: float) -> None:
    """One load process against a minimal plain-HTTP server, bearer vs signed requests
    (the TLS context is not used over HTTP): what signing costs the load generator."""
    from harness.cli.certify import tls_credentials
    from harness.load.auth import signed_spec
    from harness.load.config import RunConfig

    server, url = _minimal_server()
    auths = {"bearer": {"kind": "bearer", "token": "bench"},
             "signed": signed_spec("bench", tls_credentials(state))}  # fmt: skip
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name, auth in auths.items():
                out = Path(tmp)
                config = RunConfig(
                    target_url=url, profile=_flat_profile("agency", seconds, 100_000.0, USERS),
                    scale=1.0, compress=3600.0 / seconds, agency_id=AGENCIES["baseline"],
                    procedure_code="1.004194", auth=auth, out_dir=str(out),
                )  # fmt: skip
                config.write(out / "config.json")
                command = [sys.executable, "-m", "harness.load.worker", "local",
                           "--config", str(out / "config.json")]  # fmt: skip
                subprocess.run(command, check=True, timeout=seconds + 60, capture_output=True)
                timeline = json.loads((out / "timeline.json").read_text(encoding="utf-8"))
                rps = int(timeline["totals"]["requests"]) / seconds
                print(f"one load process, {name} requests, minimal server: {rps:,.0f} req/s")
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--offered", type=float, nargs="+", default=[40.0, 140.0, 1000.0],
        help="offered req/s levels; the agency's rate limit (150/s per client) answers 429 "
        "past it, so only the last level is meant to saturate",
    )  # fmt: skip
    args = parser.parse_args()
    print(f"{USERS} users, {args.seconds:g} s per run, {args.runs} runs each; "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        state.mkdir()
        with _sandbox(state):
            for offered in args.offered:
                _compare(state, offered, args.runs, args.seconds)
        _per_request_costs(state)
        _nonce_ledger()
        _generator_ceiling(state, args.seconds)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
