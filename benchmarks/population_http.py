"""Verify and lookup throughput of the population simulator over HTTP, with latency.

    python benchmarks/population_http.py --count 1000000 --db /tmp/pop-1m.db
    python benchmarks/population_http.py --count 10000000 --db /tmp/pop-10m.db

The database is generated first when the file does not exist. The server runs in its own
process (uvicorn, one worker, as `lienthong sandbox` runs it); a minimal ASGI endpoint
mounted in the same server is measured in the same run as the baseline, so the ratio
survives a noisy machine. The load generator is a keep-alive asyncio client (on uvloop)
in this process with --concurrency connections; on the 2-core machine it shares the CPU with the
server, as an agency's traffic would share a gateway. Prints the median of --runs runs
per operation: requests/s, p50 and p99 latency, the ratio to the baseline, and the
server's resident memory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import uvloop

AUDIENCE = "urn:lienthong:population"
ISSUER = "http://bench.invalid"
PURPOSE = "purpose=administrative-procedure&legal_basis=Ngh%E1%BB%8B%20%C4%91%E1%BB%8Bnh%20104"


# -- the server process -----------------------------------------------------------------


def serve(db: str, key_file: str, port: int) -> None:
    import uvicorn
    from joserfc.jwk import ECKey, KeySet

    from simulators.common.tokens import TokenVerifier
    from simulators.population.app import create_app
    from simulators.population.store import PopulationStore

    key = ECKey.import_key(json.loads(Path(key_file).read_text()))
    verifier = TokenVerifier(
        jwks_url="http://unused.invalid",
        issuer=ISSUER,
        audience=AUDIENCE,
        static_keys=KeySet([key]),
    )
    app = create_app(store=PopulationStore(db), verifier=verifier, admin_token="bench")

    async def with_baseline(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/__baseline":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"11")],
                }
            )
            await send({"type": "http.response.body", "body": b'{"ok":true}'})
            return
        await app(scope, receive, send)

    uvicorn.run(
        with_baseline,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )


# -- the load generator ------------------------------------------------------------------


async def _connection(
    port: int, requests: list[bytes], until: float, latencies: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    rng = random.Random()
    try:
        while time.perf_counter() < until:
            request = requests[int(rng.random() * len(requests))]
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if head[9:10] != b"2":
                errors.append(int(head[9:12]))
    finally:
        writer.close()


_Outcome = tuple[float, list[float], list[int]]


async def _load(port: int, requests: list[bytes], seconds: float, concurrency: int) -> _Outcome:
    latencies: list[float] = []
    errors: list[int] = []
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(
        *(_connection(port, requests, until, latencies, errors) for _ in range(concurrency))
    )
    return len(latencies) / (time.perf_counter() - started), latencies, errors


def _run(load: Coroutine[Any, Any, _Outcome]) -> _Outcome:
    # uvloop (as uvicorn uses) for the client too: with asyncio's own loop the client
    # spent more of the shared cores than the server it measures, for every endpoint.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(load)


def _requests(kind: str, citizens: list[tuple[str, str, str]], token: str) -> list[bytes]:
    auth = f"Authorization: Bearer {token}\r\n"
    out = []
    for pin, name, born in citizens:
        if kind == "baseline":
            out.append(b"GET /__baseline HTTP/1.1\r\nHost: b\r\n\r\n")
        elif kind == "verify":
            body = json.dumps(
                {"pin": pin, "full_name": name, "date_of_birth": born}, ensure_ascii=False
            ).encode()
            head = (
                "POST /v1/citizens/verify HTTP/1.1\r\nHost: b\r\n"
                f"{auth}Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            out.append(head.encode() + body)
        else:
            path = f"/v1/citizens/{pin}?fields=full_name,date_of_birth,current_address&{PURPOSE}"
            out.append(f"GET {path} HTTP/1.1\r\nHost: b\r\n{auth}\r\n".encode())
    return out


def _citizens(db: str, n: int) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(db)
    total = conn.execute("SELECT max(rowid) FROM citizens").fetchone()[0]
    rng = random.Random(1)
    rows = []
    for rowid in rng.sample(range(1, total + 1), n):
        row = conn.execute(
            "SELECT pin, full_name, date_of_birth FROM citizens WHERE rowid = ?", (rowid,)
        ).fetchone()
        if row:
            rows.append(row)
    conn.close()
    return rows


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
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server, port
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("the server did not start")


def _ensure_db(db: str, count: int) -> None:
    if Path(db).exists():
        return
    from simulators.population.load import generate_population

    started = time.perf_counter()
    generate_population(db, count, workers=2)
    print(f"generated {count:,} citizens into {db} in {time.perf_counter() - started:.0f} s")


def bench(args: argparse.Namespace) -> None:
    from joserfc import jwt
    from joserfc.jwk import ECKey

    _ensure_db(args.db, args.count)
    key = ECKey.generate_key("P-256", parameters={"kid": "bench"})
    key_file = Path(tempfile.mkdtemp()) / "key.json"
    key_file.write_text(json.dumps(key.as_dict(private=True)))
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "bench",
        "client_id": "bench",
        "iat": now,
        "exp": now + 3600,
        "scope": "citizen.verify citizen.read.identity citizen.read.residence",
    }
    token = jwt.encode({"alg": "ES256", "kid": "bench"}, claims, key)
    citizens = _citizens(args.db, 5000)
    server, port = _start_server(args.db, str(key_file))
    try:
        print(
            f"{Path(args.db).stat().st_size / 1e9:.2f} GB database, {args.count:,} citizens, "
            f"{args.concurrency} connections, {args.seconds:.0f} s × {args.runs} runs per operation"
        )
        _report(port, citizens, token, args)
        print(f"server resident memory after the runs: {_rss_mb(server.pid):.0f} MB")
    finally:
        server.terminate()
        server.wait()


def _report(
    port: int, citizens: list[tuple[str, str, str]], token: str, args: argparse.Namespace
) -> None:
    _run(_load(port, _requests("verify", citizens, token), 2.0, args.concurrency))  # warm up
    kinds = ("baseline", "verify", "lookup")
    runs: dict[str, list[tuple[float, float, float]]] = {kind: [] for kind in kinds}
    for _ in range(args.runs):
        for kind in kinds:  # interleaved, so every operation sees the same machine noise
            requests = _requests(kind, citizens, token)
            rate, latencies, errors = _run(_load(port, requests, args.seconds, args.concurrency))
            if errors:
                raise SystemExit(f"{kind}: {len(errors)} non-2xx answers, e.g. {errors[0]}")
            p50, p99 = _percentile(latencies, 0.5), _percentile(latencies, 0.99)
            runs[kind].append((rate, p50 * 1000, p99 * 1000))
    base = statistics.median(r[0] for r in runs["baseline"])
    for kind in kinds:
        rate, p50, p99 = (statistics.median(r[i] for r in runs[kind]) for i in range(3))
        print(
            f"{kind:9} {rate:>8,.0f} req/s  p50 {p50:5.1f} ms  p99 {p99:5.1f} ms  "
            f"{rate / base:5.2f}× baseline"
        )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--db", default=os.path.join(tempfile.gettempdir(), "lienthong-pop-1m.db"))
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    bench(parser.parse_args())


if __name__ == "__main__":
    main()
