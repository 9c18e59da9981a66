"""Status-sync and citizen-submission throughput of the portal over HTTP, SQLite and PostgreSQL.

    python benchmarks/portal_sync.py --runs 3
    python benchmarks/portal_sync.py --store sqlite --runs 5 --seconds 8

Each store gets its own server process (uvicorn, one worker, as `lienthong sandbox` runs
it); a minimal ASGI endpoint mounted in the same server is measured in the same run as
the baseline, so the ratio survives a noisy machine. The load generator is a keep-alive
asyncio client (on uvloop) in this process with --concurrency connections, sharing the
2 cores with the server.

- **sync**: `POST /v1/status-sync`, each connection walking its own fresh dossiers
  through 2 → 4 → 9 → 10, so every request is a legal transition the portal checks,
  logs and applies (one transaction per sync).
- **submit**: `POST /v1/citizen/dossiers` for temporary residence, spread over 200
  agencies (a dossier code allows 9,999 per agency per day); each is a dossier and its
  outbox message committed together. The outbox is not drained here: intake only.

Prints the median of --runs runs per operation: requests/s, p50 and p99 latency, the
ratio to the baseline, and the server's resident memory. PostgreSQL runs in a fresh
schema of --pg (trust auth), dropped afterwards; unreachable, it is skipped with the reason.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import uvloop

AUDIENCE = "urn:lienthong:portal"
ISSUER = "http://bench.invalid"
AGENCY = "000.00.01.H29"
SUBMIT_AGENCIES = [f"000.{i // 100:02d}.{i % 100:02d}.H29" for i in range(200)]
APPLICANT = {"SoDinhDanh": "001090000001", "HoVaTen": "Nguyễn Văn An", "NgaySinh": "19900101"}
KINDS = ("baseline", "sync", "submit")


# -- the server process -----------------------------------------------------------------


def serve(db: str, key_file: str, port: int) -> None:
    import uvicorn
    from joserfc.jwk import ECKey, KeySet

    from simulators.common.tokens import TokenVerifier
    from simulators.portal import PortalStore, create_app

    key = ECKey.import_key(json.loads(Path(key_file).read_text()))
    verifier = TokenVerifier(
        jwks_url="http://unused.invalid",
        issuer=ISSUER,
        audience=AUDIENCE,
        static_keys=KeySet([key]),
    )
    store = PortalStore(db)
    for agency in SUBMIT_AGENCIES:
        store.set_route(agency, "http://agency.invalid")
    app = create_app(store=store, verifier=verifier, admin_token="bench")

    async def with_baseline(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/__baseline":
            headers = [(b"content-type", b"application/json"), (b"content-length", b"11")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b'{"ok":true}'})
            return
        await app(scope, receive, send)

    uvicorn.run(with_baseline, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# -- requests -------------------------------------------------------------------------------


def _post(path: str, body: dict[str, Any], token: str | None = None) -> bytes:
    data = json.dumps(body, ensure_ascii=False).encode()
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: b\r\n{auth}"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


def _syncs(token: str, serials: Iterator[int]) -> Iterator[bytes]:
    """Fresh dossiers, each walked 2 → 4 → 9 → 10: every request a legal transition."""
    for serial in serials:
        code = f"{AGENCY}-{serial // 10_000:06d}-{serial % 10_000:04d}"
        for status in (2, 4, 9, 10):
            body = {
                "MaHoSo": code,
                "MaTTHC": "1.004194",
                "TrangThaiHoSo": status,
                "NgayTiepNhan": "20250115083000",
                "NgayHenTra": "20250120170000",
                "DonViXuLy": AGENCY,
            }
            yield _post("/v1/status-sync", body, token)


def _submissions(serials: Iterator[int]) -> Iterator[bytes]:
    for serial in serials:
        agency = SUBMIT_AGENCIES[serial % len(SUBMIT_AGENCIES)]
        body = {"MaTTHC": "1.004194", "DonViXuLy": agency, "ChuHoSo": APPLICANT}
        yield _post("/v1/citizen/dossiers", body)


def _baseline() -> Iterator[bytes]:
    return itertools.repeat(b"GET /__baseline HTTP/1.1\r\nHost: b\r\n\r\n")


def _streams(kind: str, token: str, serials: Iterator[int], n: int) -> list[Iterator[bytes]]:
    """One request stream per connection; `serials` is shared, so no dossier repeats."""
    if kind == "baseline":
        return [_baseline() for _ in range(n)]
    if kind == "sync":
        return [_syncs(token, serials) for _ in range(n)]
    return [_submissions(serials) for _ in range(n)]


# -- the load generator ---------------------------------------------------------------------


async def _connection(
    port: int, requests: Iterator[bytes], until: float, latencies: list[float], errors: list[str]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < until:
            started = time.perf_counter()
            writer.write(next(requests))
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if head[9:10] != b"2":
                errors.append(f"{head[9:12].decode()} {body[:200].decode(errors='replace')}")
    finally:
        writer.close()


_Outcome = tuple[float, list[float], list[str]]


async def _load(port: int, streams: list[Iterator[bytes]], seconds: float) -> _Outcome:
    latencies: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(*(_connection(port, s, until, latencies, errors) for s in streams))
    return len(latencies) / (time.perf_counter() - started), latencies, errors


def _run(port: int, streams: list[Iterator[bytes]], seconds: float) -> _Outcome:
    # uvloop for the client too, as population_http.py found: asyncio's own loop costs
    # the shared cores more than the server it measures.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_load(port, streams, seconds))


# -- stores and servers ---------------------------------------------------------------------


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(db: str, key_file: str) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    server = subprocess.Popen([sys.executable, __file__, "serve", db, key_file, str(port)])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server, port
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("the server did not start")


def _pg_schema(url: str) -> tuple[str, Callable[[], None]] | str:
    """A fresh schema's URL and how to drop it, or why PostgreSQL cannot be used."""
    try:
        import psycopg

        schema = f"bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(url, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
    except Exception as exc:  # any failure: report and skip this store
        return f"{type(exc).__name__}: {exc}"

    def drop() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")

    return f"{url}?options=-csearch_path%3D{schema}", drop


# -- the benchmark --------------------------------------------------------------------------


def _token(key: Any) -> str:
    from joserfc import jwt

    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": AGENCY,
        "client_id": AGENCY,
        "agency_id": AGENCY,
        "iat": now,
        "exp": now + 3600,
        "scope": "portal.sync",
    }
    return jwt.encode({"alg": "ES256", "kid": "bench"}, claims, key)


def _measure(port: int, token: str, args: argparse.Namespace) -> dict[str, list[tuple[float, ...]]]:
    serials = itertools.count(1)
    _run(port, _streams("sync", token, serials, args.concurrency), 1.5)  # warm up
    runs: dict[str, list[tuple[float, ...]]] = {kind: [] for kind in KINDS}
    for _ in range(args.runs):
        for kind in KINDS:  # interleaved, so every operation sees the same machine noise
            streams = _streams(kind, token, serials, args.concurrency)
            rate, latencies, errors = _run(port, streams, args.seconds)
            if errors:
                raise SystemExit(f"{kind}: {len(errors)} non-2xx answers, e.g. {errors[0]}")
            p50, p99 = _percentile(latencies, 0.5), _percentile(latencies, 0.99)
            runs[kind].append((rate, p50 * 1000, p99 * 1000))
    return runs


def _report(store: str, runs: dict[str, list[tuple[float, ...]]], rss: float) -> None:
    base = statistics.median(r[0] for r in runs["baseline"])
    for kind in KINDS:
        rate, p50, p99 = (statistics.median(r[i] for r in runs[kind]) for i in range(3))
        spread = ", ".join(f"{r[0]:,.0f}" for r in runs[kind])
        print(
            f"{store:10} {kind:8} {rate:>7,.0f} req/s  p50 {p50:5.1f} ms  p99 {p99:6.1f} ms  "
            f"{rate / base:5.2f}× baseline  (runs: {spread})"
        )
    print(f"{store:10} server resident memory after the runs: {rss:.0f} MB")


def _bench_store(store: str, db: str, key_file: str, token: str, args: argparse.Namespace) -> None:
    server, port = _start_server(db, key_file)
    try:
        runs = _measure(port, token, args)
        _report(store, runs, _rss_mb(server.pid))
    finally:
        server.terminate()
        server.wait()


def bench(args: argparse.Namespace) -> None:
    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256", parameters={"kid": "bench"})
    workdir = Path(tempfile.mkdtemp(prefix="lienthong-portal-bench-"))
    key_file = workdir / "key.json"
    key_file.write_text(json.dumps(key.as_dict(private=True)))
    token = _token(key)
    print(
        f"{args.concurrency} connections, {args.seconds:.0f} s × {args.runs} runs per operation, "
        "one uvicorn worker, load generator on the same cores"
    )
    if args.store in ("sqlite", "both"):
        _bench_store("sqlite", str(workdir / "portal.db"), str(key_file), token, args)
    if args.store in ("postgresql", "both"):
        schema = _pg_schema(args.pg)
        if isinstance(schema, str):
            print(f"postgresql skipped: {schema}")
            return
        url, drop = schema
        try:
            _bench_store("postgresql", url, str(key_file), token, args)
        finally:
            drop()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--store", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--pg", default="postgresql://127.0.0.1:5432/test")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    bench(parser.parse_args())


if __name__ == "__main__":
    main()
