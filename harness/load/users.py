"""The locust side: simulated applicants and agencies, pacing, and the calendar shape.

Imported only inside a locust process (`python -m harness.load.worker`), after gevent has
patched the standard library. Every number comes from `shape.Plan`; this module only turns
it into users, requests and timings.
"""

from __future__ import annotations

import itertools
import math
import random
import string
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
from locust import FastHttpUser, LoadTestShape, task

from harness.load.auth import RequestAuth, build_auth, ssl_context_factory
from harness.load.config import RunConfig
from harness.load.profiles import Profile, profile_from_dict
from harness.load.shape import Plan
from harness.load.timeline import Recorder

__all__ = [
    "USER_CLASSES",
    "AgencySyncer",
    "Applicant",
    "CalendarShape",
    "RunState",
    "bind_users",
    "configure",
    "state",
]

_VN = timezone(timedelta(hours=7))
_TAG_ALPHABET = string.ascii_uppercase + string.digits
_MAX_KEPT_CODES = 50  # per simulated applicant: enough for reviews, bounded memory
_REVIEW_READS = 3


class RunState:
    """Everything the users of this process share; set once the config is known."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self.profile: Profile = profile_from_dict(config.profile)
        self.plan = Plan(self.profile, config.scale, config.compress)
        self.auth: RequestAuth = build_auth(config.auth, config.target_url)
        self.recorder = Recorder()
        self.t0: float | None = None  # epoch second the shape started (from the master)
        self.abort_reason: str | None = None
        self.users_by_second: dict[int, int] = {}
        self._moment: _Moment | None = None
        people = config.applicants or [_placeholder_applicant()]
        start = random.randrange(len(people))
        self._applicants = itertools.cycle(people[start:] + people[:start])

    def next_applicant(self) -> dict[str, Any]:
        return next(self._applicants)

    def run_time(self) -> float:
        if self.t0 is None:
            self.t0 = time.time()
        return time.time() - self.t0

    def now(self) -> _Moment:
        """The plan's figures for this quarter second, computed once for all users: per
        request they would cost more than the request itself (see benchmarks/)."""
        t = self.run_time()
        if self._moment is None or int(t * 4) != self._moment.quarter:
            self._moment = _Moment.at(self.plan, t)
        return self._moment


@dataclass(frozen=True, slots=True)
class _Moment:
    quarter: int
    rate: float
    users: int
    kinds: tuple[str, ...]
    cumulative: tuple[float, ...]
    dvc: str

    @classmethod
    def at(cls, plan: Plan, t: float) -> _Moment:
        mix = plan.mix_at(t)
        kinds = tuple(mix)
        return cls(
            quarter=int(t * 4),
            rate=plan.offered_rps(t),
            users=plan.users_at(t),
            kinds=kinds,
            cumulative=tuple(itertools.accumulate(mix[k] for k in kinds)),
            dvc=datetime.now(_VN).strftime("%Y%m%d%H%M%S"),
        )

    def pick(self) -> str:
        return random.choices(self.kinds, cum_weights=self.cumulative)[0]


_state: RunState | None = None


def state() -> RunState:
    if _state is None:
        raise RuntimeError("the load run state is not configured yet")
    return _state


def configure(config: RunConfig) -> RunState:
    global _state
    _state = RunState(config)
    return _state


def _placeholder_applicant() -> dict[str, Any]:
    # Only when the sandbox gave no citizens (a portal-sync run needs none).
    return {"pin": "001090000000", "full_name": "Nguyễn Văn Thử", "date_of_birth": "1990-01-01"}


def _codes(agency_id: str) -> Iterator[str]:
    """Dossier codes no other user or run will use: a random 6-character block tag per
    10,000 serials, since the contract's serial has only four digits per prefix and day."""
    while True:
        tag = "".join(random.choices(_TAG_ALPHABET, k=6))
        day = datetime.now(_VN).strftime("%y%m%d")
        prefix = f"{agency_id[:21]}.L{tag}"
        for serial in range(10_000):
            yield f"{prefix}-{day}-{serial:04d}"


def _quota(profile: Profile) -> int:
    """Wishes this applicant will make: lognormal with the profile's mean, cut at max."""
    per = profile.volume.per_applicant
    if per.max <= 1:
        return 1
    mu = math.log(per.mean) - per.sigma**2 / 2
    return max(1, min(per.max, round(random.lognormvariate(mu, per.sigma))))


class _PacedUser(FastHttpUser):
    """Sends its share of the offered rate and catches up after slow answers, so a
    backlog builds when the target lags and drains when it recovers."""

    abstract = True
    network_timeout = 10.0
    connection_timeout = 10.0
    _next_due: float | None = None

    def wait_time(self) -> float:
        run = state()
        moment = run.now()
        rate, users = moment.rate, moment.users
        now = time.monotonic()
        if rate <= 0 or users <= 0:
            self._next_due = None
            return 1.0
        self._next_due = (self._next_due or now) + users / rate
        return max(0.0, self._next_due - now)

    def send(self, kind: str, method: str, path: str, body: Any, expect: tuple[int, ...]) -> int:
        data = orjson.dumps(body) if body is not None else b""
        headers = state().auth.headers(method, path, data)
        if body is not None:
            headers["Content-Type"] = "application/json"
        with self.client.request(
            method,
            path,
            data=data or None,  # type: ignore[arg-type]  # bytes are sent as they are
            headers=headers,
            name=kind,
            catch_response=True,
        ) as reply:
            status = int(reply.status_code or 0)
            if status not in expect:
                wanted = " or ".join(str(s) for s in expect)
                reply.failure(f"{method} {path.split('/')[1]} answered {status}, expected {wanted}")
            else:
                reply.success()
        return status


class Applicant(_PacedUser):
    """One simulated applicant after another: wishes, edits, retries, status checks."""

    abstract = True
    _codes: Iterator[str]
    _kept: list[tuple[str, dict[str, Any]]]

    def on_start(self) -> None:
        self._codes = _codes(state().config.agency_id)
        self._new_applicant()

    def _new_applicant(self) -> None:
        self.person = state().next_applicant()
        self.quota = _quota(state().profile)
        self._kept, self.wishes = [], 0

    @task
    def act(self) -> None:
        kind = state().now().pick()
        if kind in ("submit", "edit") and self.wishes >= self.quota:
            self._new_applicant()
        if not self._kept and kind in ("edit", "resubmit", "review"):
            kind = "submit" if kind != "review" else "status"
        getattr(self, f"do_{kind}")()

    def _dossier(self, note: str) -> dict[str, Any]:
        person, config = self.person, state().config
        return {
            "MaHoSo": next(self._codes),
            "MaTTHC": config.procedure_code,
            "NgayNopHoSo": state().now().dvc,
            "KenhNop": 2,
            "ChuHoSo": {
                "SoDinhDanh": person["pin"],
                "HoVaTen": person["full_name"],
                "NgaySinh": str(person["date_of_birth"]).replace("-", ""),
            },
            "TrichYeuHoSo": note,
            "DuLieuHoSo": {"NguyenVong": self.wishes + 1, "ThoiHanTamTru": 12},
        }

    def _post_new(self, kind: str, note: str) -> None:
        body = self._dossier(note)
        if self.send(kind, "POST", "/dossiers", body, (202,)) == 202:
            self._kept = [*self._kept[-(_MAX_KEPT_CODES - 1) :], (body["MaHoSo"], body)]
            self.wishes += 1

    def do_submit(self) -> None:
        self._post_new("submit", "Đăng ký nguyện vọng")

    def do_edit(self) -> None:
        # The contract has no update: a changed wish is a new dossier superseding the old.
        self._post_new("edit", "Điều chỉnh nguyện vọng")

    def do_resubmit(self) -> None:
        _, body = self._kept[-1]
        self.send("resubmit", "POST", "/dossiers", body, (200,))

    def do_status(self) -> None:
        if self._kept:
            self.send("status", "GET", f"/dossiers/{self._kept[-1][0]}", None, (200,))
        else:  # a login before any registration: the applicant has nothing there yet
            self.send("status", "GET", f"/dossiers/{next(self._codes)}", None, (404,))

    def do_review(self) -> None:
        for code, _ in self._kept[-_REVIEW_READS:]:
            self.send("review", "GET", f"/dossiers/{code}", None, (200,))


_ADVANCE = {2: 4, 4: 9, 9: 10}  # a legal path through specs/dossier-lifecycle.yaml


class AgencySyncer(_PacedUser):
    """An agency system syncing its dossiers' statuses to the portal."""

    abstract = True
    _codes: Iterator[str]

    def on_start(self) -> None:
        self._codes = _codes(state().config.agency_id)
        self.open: dict[str, tuple[int, str]] = {}  # code → (status, received at)

    @task
    def act(self) -> None:
        kind = state().now().pick()
        if kind == "sync-advance" and self.open:
            code = random.choice(list(self.open))
            self._sync(kind, code, _ADVANCE[self.open[code][0]], self.open[code][1])
        elif len(self.open) < _MAX_KEPT_CODES:
            self._sync("sync-new", next(self._codes), 2, state().now().dvc)
        else:
            code = next(iter(self.open))
            self._sync("sync-advance", code, _ADVANCE[self.open[code][0]], self.open[code][1])

    def _sync(self, kind: str, code: str, status: int, received: str) -> None:
        config = state().config
        body = {
            "MaHoSo": code,
            "MaTTHC": config.procedure_code,
            "TrangThaiHoSo": status,
            "NgayTiepNhan": received,
            "NgayCapNhat": state().now().dvc,
            "DonViXuLy": config.agency_id,
        }
        if self.send(kind, "POST", "/v1/status-sync", body, (200,)) != 200:
            return
        if status in _ADVANCE:
            self.open[code] = (status, received)
        else:
            self.open.pop(code, None)


class LoadApplicant(Applicant):
    abstract = False


class LoadAgencySyncer(AgencySyncer):
    abstract = False


USER_CLASSES: tuple[type[_PacedUser], ...] = (LoadApplicant, LoadAgencySyncer)


def bind_users(config: RunConfig) -> type[FastHttpUser]:
    """Point the user classes at the target; returns the one this profile runs.

    Both classes exist from the start because a worker must know the class names the
    master dispatches before the run's configuration reaches it."""
    tls = ssl_context_factory(config.auth)
    for cls in USER_CLASSES:
        cls.host = config.target_url
        cls.network_timeout = cls.connection_timeout = config.request_timeout_s
        # strict: one client context for every connection, and the target's certificate
        # and host name verified (locust's default `insecure` skips both).
        cls.ssl_context_factory = tls
        cls.insecure = tls is None
    return LoadApplicant if config.profile["target"] == "agency" else LoadAgencySyncer


class CalendarShape(LoadTestShape):
    """Users over time from the plan; stops at the end of the calendar, at the time cap,
    or when the run is aborted."""

    abstract = False

    def tick(self) -> tuple[int, float] | None:
        run = state()
        t = self.get_run_time()  # type: ignore[no-untyped-call]
        cap = run.config.max_run_s
        if run.abort_reason or t >= run.plan.duration_s or (cap is not None and t >= cap):
            return None
        users = run.plan.users_at(t)
        if self.runner is not None:
            run.users_by_second[int(t)] = self.runner.user_count
        # Reach the new count within a second: the calendar, not locust, sets the pace.
        return users, float(max(10, users))
