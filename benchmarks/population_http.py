"""Verify and lookup throughput of the population simulator over HTTP, with latency.

    python benchmarks/population_http.py --count 1000000 --db /tmp/pop-1m.db
    python benchmarks/population_http.py --count 1000000 --db /tmp/pop-1m.db \
        --server-cpus 0 --client-cpus 1
    python benchmarks/population_http.py --count 1000000 --db /tmp/pop-1m.db --workers 2
    python benchmarks/population_http.py --count 10000000 --db /tmp/pop-10m.db

The database is generated first when the file does not exist. The server runs in its own
process (uvicorn, one worker, as `lienthong sandbox` runs it; --workers N starts N such
processes sharing the port through SO_REUSEPORT). A minimal ASGI endpoint mounted in the
same server is measured in the same run, interleaved with the real operations, as the
baseline, so the ratio survives a noisy machine. The load generator is a keep-alive
asyncio client (on uvloop) in this process with --concurrency connections. By default
server and generator share every core, as an agency's traffic would share a gateway;
--server-cpus/--client-cpus pin them to separate cores instead. Every verify and lookup
writes an audit entry; the entries of client "bench" are deleted before and after the
runs, so that repeated runs start from the same database.

Prints every run, then the median of --runs runs per operation: requests/s, p50 and p99
latency, the ratio to the baseline, the server's CPU time per request (less sensitive to
other processes on the machine than the rate), and the server's resident memory.
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


def serve(db: str, key_file: str, port: int, cpus: str) -> None:
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

    if cpus:
        os.sched_setaffinity(0, _cpu_set(cpus))
    # SO_REUSEPORT lets --workers processes listen on one port; the kernel spreads the
    # connections between them.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    config = uvicorn.Config(with_baseline, log_level="warning", access_log=False, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


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


def _forget_own_audit(db: str) -> None:
    """Delete the entries earlier runs of this benchmark left in the audit log (client
    "bench"), so that every run starts from the same database."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("DELETE FROM audit WHERE client_id = 'bench'")
    conn.close()


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def _memory_mb(pid: int, field: str) -> float:
    """A memory figure from /proc/PID/status: VmRSS (resident) or RssAnon (the process's
    own memory, without the pages of files it maps, such as a database)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds the processes (all their threads) have used so far."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _cpu_set(spec: str) -> set[int]:
    """'0', '0,1' or '0-1' as a set of CPU numbers."""
    cpus: set[int] = set()
    for part in spec.split(","):
        first, _, last = part.partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listeners(port: int) -> int:
    """How many sockets listen on the loopback port (state 0A in /proc/net/tcp)."""
    local = f"0100007F:{port:04X}"
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for line in lines if line.split()[1] == local and line.split()[3] == "0A")


def _start_servers(
    db: str, key_file: str, workers: int, cpus: str
) -> tuple[list[subprocess.Popen[bytes]], int]:
    port = _free_port()
    command = [sys.executable, __file__, "serve", db, key_file, str(port), cpus]
    servers = [subprocess.Popen(command) for _ in range(workers)]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if _listeners(port) == workers:
            return servers, port
        time.sleep(0.1)
    for server in servers:
        server.kill()
    raise SystemExit("the server did not start")


def _ensure_db(db: str, count: int) -> None:
    if Path(db).exists():
        return
    from simulators.population.load import generate_population

    started = time.perf_counter()
    generate_population(db, count, workers=2)
    print(f"generated {count:,} citizens into {db} in {time.perf_counter() - started:.0f} s")


def _token() -> tuple[str, str]:
    """A signed access token, and the file holding the key the server verifies it with."""
    from joserfc import jwt
    from joserfc.jwk import ECKey

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
    return jwt.encode({"alg": "ES256", "kid": "bench"}, claims, key), str(key_file)


def bench(args: argparse.Namespace) -> None:
    _ensure_db(args.db, args.count)
    _forget_own_audit(args.db)
    token, key_file = _token()
    citizens = _citizens(args.db, 5000)
    if args.client_cpus:
        os.sched_setaffinity(0, _cpu_set(args.client_cpus))
    servers, port = _start_servers(args.db, key_file, args.workers, args.server_cpus)
    try:
        server_cpus, client_cpus = args.server_cpus or "any", args.client_cpus or "any"
        where = f"server on CPU {server_cpus}, load generator on CPU {client_cpus}"
        print(
            f"{Path(args.db).stat().st_size / 1e9:.2f} GB database, {args.count:,} citizens, "
            f"{args.workers} server process(es), {where}, {os.cpu_count()} CPUs; "
            f"{args.concurrency} connections, {args.seconds:g} s × {args.runs} runs per operation"
        )
        _report(port, [s.pid for s in servers], citizens, token, args)
        rss = sum(_memory_mb(s.pid, "VmRSS") for s in servers)
        anonymous = sum(_memory_mb(s.pid, "RssAnon") for s in servers)
        print(f"server memory after the runs: {rss:.0f} MB resident, {anonymous:.0f} MB anonymous")
    finally:
        for server in servers:
            server.terminate()
            server.wait()
        _forget_own_audit(args.db)


_KINDS = ("baseline", "verify", "lookup")


def _report(
    port: int,
    pids: list[int],
    citizens: list[tuple[str, str, str]],
    token: str,
    args: argparse.Namespace,
) -> None:
    requests = {kind: _requests(kind, citizens, token) for kind in _KINDS}
    _run(_load(port, requests["verify"], 2.0, args.concurrency))  # warm up
    runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in _KINDS}
    for number in range(1, args.runs + 1):
        for kind in _KINDS:  # interleaved, so every operation sees the same machine noise
            cpu_before = _cpu_s(pids)
            rate, latencies, errors = _run(
                _load(port, requests[kind], args.seconds, args.concurrency)
            )
            cpu_us = (_cpu_s(pids) - cpu_before) / (rate * args.seconds) * 1e6
            if errors:
                raise SystemExit(f"{kind}: {len(errors)} non-2xx answers, e.g. {errors[0]}")
            base = runs["baseline"][-1]["rate"] if kind != "baseline" else rate
            run = {
                "rate": rate,
                "p50": _percentile(latencies, 0.5) * 1000,
                "p99": _percentile(latencies, 0.99) * 1000,
                "ratio": rate / base,
                "cpu_us": cpu_us,
            }
            runs[kind].append(run)
            print(f"  run {number} {_line(kind, run)}")
    print("median of the runs (ratio: median of each run's rate / that run's baseline):")
    for kind in _KINDS:
        medians = {k: statistics.median(r[k] for r in runs[kind]) for k in runs[kind][0]}
        print(f"  {_line(kind, medians)}")


def _line(kind: str, run: dict[str, float]) -> str:
    return (
        f"{kind:8} {run['rate']:>8,.0f} req/s  p50 {run['p50']:5.1f} ms  "
        f"p99 {run['p99']:5.1f} ms  {run['ratio']:5.2f}× baseline  "
        f"server CPU {run['cpu_us']:4.0f} µs/request"
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--db", default=os.path.join(tempfile.gettempdir(), "lienthong-pop-1m.db"))
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument("--server-cpus", default="", help="pin the server, e.g. 0")
    parser.add_argument("--client-cpus", default="", help="pin the load generator, e.g. 1")
    bench(parser.parse_args())


if __name__ == "__main__":
    main()
