"""Entry point of a locust process: `python -m harness.load.worker ROLE ...`.

ROLE is `local` (one process does everything), `master` (dispatches users to workers and
merges their statistics) or `worker` (runs users, reports to a master). gevent patches the
standard library before anything else is imported, which is why locust never runs inside
the CLI's or pytest's own process.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
from locust import User  # noqa: E402
from locust.env import Environment  # noqa: E402
from locust.runners import MasterRunner, Runner, WorkerRunner  # noqa: E402

from harness.errors import ConfigError  # noqa: E402
from harness.load import users  # noqa: E402
from harness.load.config import RunConfig  # noqa: E402
from harness.load.snapshot import Snapshot  # noqa: E402

__all__ = ["main"]

_log = logging.getLogger("lienthong.load")
EXIT_ENVIRONMENT = 3


def _on_request(
    request_type: str, name: str, response_time: float, exception: Any, **_: Any
) -> None:
    error = None if exception is None else str(exception)
    users.state().recorder.record(
        second=int(time.time()), kind=name, ms=response_time or 0.0, error=error
    )


def _environment(config: RunConfig | None) -> Environment:
    chosen = users.bind_users(config) if config else None
    classes = [chosen] if chosen else list(users.USER_CLASSES)
    shape = users.CalendarShape()  # type: ignore[no-untyped-call]
    env = Environment(user_classes=list[type[User]](classes), shape_class=shape)
    env.events.request.add_listener(  # type: ignore[no-untyped-call]
        _on_request
    )
    return env


def _watch_parent(runner: Runner) -> None:
    """Quit when the process that started us is gone, so no worker outlives its run."""
    parent = os.getppid()
    while True:
        gevent.sleep(1.0)
        if os.getppid() != parent:
            _log.error("parent process %s is gone; quitting", parent)
            runner.quit()
            os._exit(EXIT_ENVIRONMENT)


def _watch_failures(config: RunConfig, window: int) -> None:
    run = users.state()
    while run.abort_reason is None:
        gevent.sleep(1.0)
        if run.recorder.recent_all_failed(int(time.time()), window):
            run.abort_reason = (
                f"every request failed for {window} s in a row (last error: "
                f"{next(reversed(run.recorder.errors), 'none')}); stopped early"
            )
            _log.error(run.abort_reason)


def _drive(env: Environment, runner: Runner, config: RunConfig, window: int) -> int:
    out = Path(config.out_dir)
    snapshot = Snapshot(env, users.state(), out)
    gevent.spawn(_watch_parent, runner)
    runner.start_shape()
    users.state().t0 = time.time()
    if isinstance(runner, MasterRunner):
        runner.send_message("lienthong-t0", {"t0": users.state().t0})
    watcher = gevent.spawn(_watch_failures, config, window)
    writer = gevent.spawn(snapshot.loop)
    if runner.shape_greenlet is not None:
        runner.shape_greenlet.join()
    runner.quit()
    watcher.kill(block=False)
    writer.kill(block=True)
    snapshot.write(final=True)
    return 0


def run_local(config_path: Path) -> int:
    config = RunConfig.read(config_path)
    users.configure(config)
    env = _environment(config)
    return _drive(env, env.create_local_runner(), config, max(2, int(config.abort_after_s)))


def _wait_for_workers(
    runner: MasterRunner, configured: set[str], expected: int, timeout_s: float
) -> bool:
    deadline = time.monotonic() + timeout_s
    while len(runner.clients.ready) < expected or len(configured) < expected:
        if time.monotonic() > deadline:
            return False
        gevent.sleep(0.2)
    return True


def run_master(config_path: Path, bind: str, port: int, expected: int, timeout_s: float) -> int:
    config = RunConfig.read(config_path)
    users.configure(config)
    env = _environment(config)
    runner = env.create_master_runner(master_bind_host=bind, master_bind_port=port)
    payload, configured = config.to_json(), set[str]()

    # A worker asks once its handlers are registered: a message sent on connect could
    # arrive before then and be dropped.
    def send_config(environment: Environment, msg: Any, **_: Any) -> None:
        runner.send_message("lienthong-config", {"config": payload}, msg.node_id)
        configured.add(str(msg.node_id))

    def merge(client_id: str, data: dict[str, Any], **_: Any) -> None:
        users.state().recorder.merge(data.get("lienthong") or {})

    runner.register_message("lienthong-hello", send_config)
    env.events.worker_report.add_listener(  # type: ignore[no-untyped-call]
        merge
    )
    if not _wait_for_workers(runner, configured, expected, timeout_s):
        Snapshot(env, users.state(), Path(config.out_dir)).fail(
            f"only {len(runner.clients.ready)} of {expected} workers connected to "
            f"{bind}:{port} within {timeout_s:.0f} s"
        )
        runner.quit()
        return EXIT_ENVIRONMENT
    # Workers report every 3 s: judge "all failed" on a window that spans two reports.
    return _drive(env, runner, config, max(7, int(config.abort_after_s)))


def run_worker(master_host: str, port: int, timeout_s: float) -> int:
    env = _environment(None)
    runner = env.create_worker_runner(master_host=master_host, master_port=port)
    configured = False

    def on_config(environment: Environment, msg: Any, **_: Any) -> None:
        nonlocal configured
        config = RunConfig.from_dict(_loads(msg.data["config"]))
        try:
            users.configure(config)
            users.bind_users(config)
        except ConfigError as exc:  # e.g. strict: the TLS files are not on this machine
            _log.error("cannot take part in this run: %s", exc)
            gevent.spawn(runner.quit)  # not from inside the handler's own greenlet
            return
        configured = True

    def on_t0(environment: Environment, msg: Any, **_: Any) -> None:
        users.state().t0 = float(msg.data["t0"])

    def report(client_id: str, data: dict[str, Any], **_: Any) -> None:
        if configured:
            data["lienthong"] = users.state().recorder.drain()

    runner.register_message("lienthong-config", on_config)
    runner.register_message("lienthong-t0", on_t0)
    env.events.report_to_master.add_listener(  # type: ignore[no-untyped-call]
        report
    )
    runner.send_message("lienthong-hello", {})
    gevent.spawn(_watch_parent, runner)
    gevent.spawn(_give_up_unless, lambda: configured, runner, timeout_s)
    runner.greenlet.join()
    return 0 if configured else EXIT_ENVIRONMENT


def _loads(text: str) -> dict[str, Any]:
    return dict(json.loads(text))


def _give_up_unless(ready: Any, runner: WorkerRunner, timeout_s: float) -> None:
    gevent.sleep(timeout_s)
    if not ready():
        _log.error("no configuration from the master within %.0f s; quitting", timeout_s)
        runner.quit()


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m harness.load.worker")
    parser.add_argument("role", choices=["local", "master", "worker"])
    parser.add_argument("--config", type=Path)
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--master-host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5557)
    parser.add_argument("--expect-workers", type=int, default=1)
    parser.add_argument("--connect-timeout", type=float, default=60.0)
    parser.add_argument("--log-level", default="WARNING")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(message)s")
    if args.role == "local":
        return run_local(args.config)
    if args.role == "master":
        return run_master(
            args.config, args.bind, args.port, args.expect_workers, args.connect_timeout
        )
    return run_worker(args.master_host, args.port, args.connect_timeout)


if __name__ == "__main__":
    sys.exit(main())
