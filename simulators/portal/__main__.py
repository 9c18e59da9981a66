"""`python -m simulators.portal`: the portal in its own process (crash tests, deployments)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import uvicorn

from simulators.portal.outbox import DeliveryPolicy
from simulators.portal.runtime import build_portal


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m simulators.portal")
    parser.add_argument("--database", required=True, help="SQLite path or postgresql:// URL")
    parser.add_argument("--state-dir", type=Path, required=True, help="holds the credentials")
    parser.add_argument("--idp-url", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8703)
    parser.add_argument("--retry-base-s", type=float, default=0.5)
    parser.add_argument(
        "--population-url", help="where to assign the birth group's child PIN (optional)"
    )
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    # The admin token comes from the environment so it never shows in a process list.
    admin_token = os.environ.get("LIENTHONG_ADMIN_TOKEN", "")
    if not admin_token:
        raise SystemExit("set LIENTHONG_ADMIN_TOKEN")
    app = build_portal(
        database=args.database,
        state_dir=args.state_dir,
        idp_url=args.idp_url,
        admin_token=admin_token,
        policy=DeliveryPolicy(base_delay_s=args.retry_base_s),
        population_url=args.population_url,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
