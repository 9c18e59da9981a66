"""What the agency does with a dossier after accepting it: verify, decide, sync.

Runs as a background task per dossier. Outbound calls carry tokens from the identity
provider, time out, and retry transient failures (429, 5xx, network) with backoff.

Every status change is a compare-and-set in the store (so a withdrawal racing the
processing cannot be overwritten), and a dossier's syncs go out one at a time in the
order its statuses changed, so the portal sees a legal path.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from simulators.agencies.actions import (
    IN_PROCESS,
    PAYMENT_REQUESTED,
    RESULT_DELIVERED,
    RESULT_READY,
    SUPPLEMENT_REQUESTED,
    Fee,
    decide_next,
    finishes_at_once,
    result_documents,
)
from simulators.agencies.catalogue import Behaviour
from simulators.agencies.lookups import ApplicantReader
from simulators.agencies.store import Action, AgencyStore, Dossier
from simulators.common.clock import VN_TZ, add_working_days, format_dvc, now_vn, parse_dvc
from simulators.common.oauth_client import TokenClient, TokenRequestError
from simulators.common.resources import load_yaml_spec
from simulators.identity.resources import POPULATION, PORTAL

__all__ = ["REFERENCE_PROCEDURES", "Processor"]

log = logging.getLogger(__name__)


def _group_member_procedures() -> tuple[str, ...]:
    groups: dict[str, Any] = load_yaml_spec("procedures.yaml").get("groups", {})
    codes = {m["procedure"] for g in groups.values() for step in g["steps"] for m in step}
    return tuple(sorted(codes))


# What the reference agency handles, in one place: temporary residence (the procedure
# certification submits) and every member of the Decree 63/2024 groups, so a group
# declared at the portal runs end to end through the sandbox (which passes this list as
# AgencyConfig.procedures).
REFERENCE_PROCEDURES = ("1.004194", *_group_member_procedures())

_TRANSIENT = {429, 500, 502, 503, 504}
_ATTEMPTS = 4
# Without a Retry-After (a network error, a timeout): 0.5, 1, 2 s between the 4 attempts.
_FIRST_BACKOFF_S = 0.5
_MAX_BACKOFF_S = 5.0
_MAX_RETRY_AFTER_S = 10.0  # a longer Retry-After is waited this long (the dossier's lock is held)
# [ours] A population-database call that takes longer has hung: its verify p99 is 5-31 ms
# even under heavy load (README), so 2 s never cuts a healthy answer, and it leaves the
# dossier's 4 attempts room to outlast a hang of a few seconds (RES-SLOW-DEPENDENCY).
# Reads are safe to repeat; portal syncs keep the client's longer default (AgencyConfig).
_POPULATION_TIMEOUT_S = 2.0
_INITIAL = frozenset({1, 2, 3})
_RECEIVED, _ACCEPTED, _REFUSED = 1, 2, 3


@dataclass
class Processor:
    agency_id: str
    store: AgencyStore
    tokens: TokenClient
    http: httpx.AsyncClient
    population_url: str
    portal_url: str
    behaviour: Behaviour
    deadline_days: dict[str, int]
    fees: Mapping[str, tuple[Fee, ...]] = field(default_factory=dict)
    _locks: dict[str, tuple[asyncio.Lock, int]] = field(
        default_factory=dict, init=False, repr=False
    )
    # When each dossier being finished got its result (9), for the 9 and 10 syncs.
    _finished: dict[str, datetime] = field(default_factory=dict, init=False, repr=False)

    async def process(self, code: str) -> None:
        dossier = self.store.get(code)
        if dossier is None:
            return
        try:
            verdict = (
                await self._verification(dossier) if self.behaviour.verify_applicant else "match"
            )
            if verdict is None:
                # The population database could not answer: refusing the citizen for our
                # outage would be wrong, so the dossier stays received (status 1).
                log.warning("verification of %s unavailable; dossier left pending", code)
                return
            if verdict != "match":
                await self._advance(code, _REFUSED)
            elif await self._advance(code, _ACCEPTED):
                await self.read_applicant(dossier)
                following = self.next_status(dossier)
                moved = await self._advance(code, following, frozenset({_ACCEPTED}))
                if moved and following == IN_PROCESS:
                    await self._finish(code)
        except (httpx.HTTPError, TokenRequestError, ValueError) as exc:
            # The dossier stays at its last status; a real system would park it for retry.
            log.warning("processing of %s stopped: %s", code, exc)

    async def read_applicant(self, dossier: Dossier) -> dict[str, Any] | None:
        """The applicant's residence from the population database (lookups.py); a refused
        or failed read is logged and never blocks the dossier."""
        reader = ApplicantReader(self.population_url, self.behaviour, self._population_get)
        data = dossier.body.get("DuLieuHoSo") or {}
        try:
            return await reader.read(dossier.body["ChuHoSo"]["SoDinhDanh"], data)
        except (httpx.HTTPError, TokenRequestError, ValueError) as exc:
            log.warning("reading the applicant of %s failed: %s", dossier.code, exc)
            return None

    async def _population_get(
        self, method: str, url: str, scope: str, params: dict[str, str] | None
    ) -> httpx.Response:
        return await self._call(method, url, POPULATION, scope, None, params)

    def fee_vnd(self, procedure_code: str) -> int:
        return sum(fee.amount_vnd for fee in self.fees.get(procedure_code, ()))

    def next_status(self, dossier: Dossier) -> int:
        """Where the dossier goes from 2 or 4, given the citizen actions already done."""
        done = {k for k in ("supplement", "payment") if self.store.has_action(dossier.code, k)}
        fee = self.fee_vnd(dossier.procedure_code)
        everywhere = self.behaviour.online_payment_every_procedure
        if not everywhere and dossier.procedure_code != "1.004194":  # temporary residence
            fee = 0  # the fault: this procedure's fee is left for the desk
        return decide_next(dossier.body, fee, frozenset(done))

    async def _advance(
        self, code: str, status: int, allowed: frozenset[int] = frozenset({_RECEIVED})
    ) -> bool:
        """Move and sync under the dossier's lock; False when the status moved on first."""
        async with self._lock(code):
            if not self.store.move(code, allowed, status):
                return False
            await self._sync_step(code, status, allowed)
        return True

    def apply(self, code: str, allowed: frozenset[int], status: int, action: Action) -> bool:
        """A citizen action: move now (so the answer shows it); sync in the background."""
        return self.store.move(code, allowed, status, action)

    async def sync_moved(self, code: str, status: int, previous: int) -> None:
        """Sync a status `apply` set, after any sync of this dossier already under way."""
        try:
            async with self._lock(code):
                await self._sync_step(code, status, frozenset({previous}))
            dossier = self.store.get(code)
            if status == IN_PROCESS and previous == SUPPLEMENT_REQUESTED and dossier is not None:
                await self.read_applicant(dossier)  # the residence may have changed meanwhile
            if status == IN_PROCESS and dossier is not None:
                following = self.next_status(dossier)
                if following != IN_PROCESS:  # e.g. the payment after a supplement
                    await self._advance(code, following, frozenset({IN_PROCESS}))
                else:
                    await self._finish(code)
        except (httpx.HTTPError, TokenRequestError, ValueError) as exc:
            log.warning("sync of %s → %s failed: %s", code, status, exc)

    async def _finish(self, code: str) -> None:
        """`DuLieuHoSo.XuLyNgay` ([ours]): from 4, the result is issued (9) and delivered
        online (10) at once. Only ever called at 4, so the supplement and the payment the
        form asked for come first; a withdrawal in between wins the compare-and-set."""
        dossier = self.store.get(code)
        if dossier is None or not finishes_at_once(dossier.body):
            return
        self._finished[code] = now_vn()
        try:
            if await self._advance(code, RESULT_READY, frozenset({IN_PROCESS})):
                await self._advance(code, RESULT_DELIVERED, frozenset({RESULT_READY}))
        finally:
            self._finished.pop(code, None)

    @asynccontextmanager
    async def _lock(self, code: str) -> AsyncIterator[None]:
        """One sync sequence at a time per dossier; the lock is dropped when unused, so a
        long load run does not keep one per dossier ever seen."""
        lock, users = self._locks.get(code, (asyncio.Lock(), 0))
        self._locks[code] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[code]
            if users == 1:
                del self._locks[code]
            else:
                self._locks[code] = (lock, users - 1)

    async def _sync_step(self, code: str, status: int, previous: frozenset[int]) -> None:
        dossier = self.store.get(code)
        assert dossier is not None
        if previous == {_RECEIVED} and status not in _INITIAL:
            # Withdrawn before acceptance: the portal first hears that it was received.
            await self._sync(dossier, _RECEIVED)
        await self._sync(dossier, status)

    async def _verification(self, dossier: Dossier) -> str | None:
        """ "match", "mismatch" or "not_found"; None when the database gave no answer."""
        applicant = dossier.body["ChuHoSo"]
        born = applicant["NgaySinh"]
        body = {
            "pin": applicant["SoDinhDanh"],
            "full_name": applicant["HoVaTen"],
            "date_of_birth": f"{born[:4]}-{born[4:6]}-{born[6:]}",
        }
        response = await self._call(
            "POST", f"{self.population_url}/v1/citizens/verify", POPULATION, "citizen.verify", body
        )
        if response.status_code == 422:
            return "mismatch"  # e.g. a PIN the database says cannot exist
        if response.status_code != 200:
            return None
        result = response.json().get("result")
        return str(result) if result in ("match", "mismatch", "not_found") else None

    async def _sync(self, dossier: Dossier, status: int) -> None:
        if not self.behaviour.sync_status:
            return
        response = await self._call(
            "POST",
            f"{self.portal_url}/v1/status-sync",
            PORTAL,
            "portal.sync",
            self._sync_payload(dossier, status),
        )
        if response.status_code != 200:
            log.warning(
                "portal refused sync of %s → %s: %s", dossier.code, status, response.text[:300]
            )

    def _sync_payload(self, dossier: Dossier, status: int) -> dict[str, Any]:
        received = parse_dvc(dossier.received_at)
        payload = {
            "MaHoSo": dossier.code,
            "MaTTHC": dossier.procedure_code,
            "TrangThaiHoSo": status,
            "NgayTiepNhan": self._date(received),
            "NgayHenTra": self._date(self._due(dossier, received)),
            "NgayCapNhat": self._update_stamp(),
            "DonViXuLy": self.agency_id,
        }
        return payload | self._status_details(dossier, status)

    def _due(self, dossier: Dossier, received: datetime) -> datetime:
        days = self.deadline_days.get(dossier.procedure_code, 3)
        if self.behaviour.working_day_deadlines:
            return add_working_days(received, days)
        return _calendar_due(received, days)

    def _update_stamp(self) -> str:
        """NgayCapNhat; the utc-timestamps fault writes the wall clock of a server on UTC."""
        if self.behaviour.vn_timestamps:
            return self._date(now_vn())
        return datetime.now(UTC).strftime("%Y%m%d%H%M%S")

    def _status_details(self, dossier: Dossier, status: int) -> dict[str, Any]:
        """What the citizen must know at this status: the reason, the fee, the documents."""
        fees = self.fees.get(dossier.procedure_code, ())
        if status == _REFUSED:
            return {"GhiChu": "Thông tin người nộp không khớp CSDLQG về dân cư"}
        if status == SUPPLEMENT_REQUESTED:
            return {
                "GhiChu": "Yêu cầu bổ sung giấy tờ còn thiếu",
                "DanhSachHoSoBoSung": [{"TenGiayTo": "Giấy tờ còn thiếu theo DuLieuHoSo"}],
            }
        if status == PAYMENT_REQUESTED:
            amount = self.fee_vnd(dossier.procedure_code)
            return {"GhiChu": f"Yêu cầu nộp lệ phí trực tuyến {amount} đồng"}
        details: dict[str, Any] = {}
        if fees and self.store.has_action(dossier.code, "payment"):
            details["DanhSachLePhi"] = [_fee_line(fee) for fee in fees]
        if status in (RESULT_READY, RESULT_DELIVERED):
            details |= self._result_details(dossier, status)
        return details

    def _result_details(self, dossier: Dossier, status: int) -> dict[str, Any]:
        """When handling ended and what it produced (9); at 10 also when and how the
        result reached the citizen — online, through the portal."""
        finished = self._date(self._finished.get(dossier.code) or now_vn())
        details: dict[str, Any] = {"NgayKetThucXuLy": finished}
        if self.behaviour.result_documents:
            documents = result_documents(dossier.procedure_code, dossier.code, finished)
            details["DanhSachGiayToKetQua"] = documents
        if status == RESULT_DELIVERED:
            details["NgayTra"] = self._date(now_vn())
            details["HinhThuc"] = 2  # online
            details["ThongTinTra"] = "Kết quả điện tử đã trả qua Cổng Dịch vụ công quốc gia"
        return details

    def _date(self, moment: datetime) -> str:
        return format_dvc(moment) if self.behaviour.dvc_date_format else moment.isoformat()

    async def _call(
        self,
        method: str,
        url: str,
        resource: str,
        scope: str,
        body: dict[str, Any] | None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        delay = _FIRST_BACKOFF_S
        retries = (
            self.behaviour.retry_transient
            if resource == POPULATION
            else self.behaviour.retry_portal_transient
        )
        attempts = _ATTEMPTS if retries else 1
        timeout = _timeout_for(resource, self.behaviour, self.http.timeout)
        for attempt in range(1, attempts + 1):
            token = await self.tokens.token(resource, scope)
            try:
                response = await self.http.request(
                    method,
                    url,
                    json=body,
                    params=params,
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=timeout,
                )
            except httpx.TransportError:  # timeouts included: a hung call is retried
                if attempt == attempts:
                    raise
            else:
                if response.status_code not in _TRANSIENT or attempt == attempts:
                    return response
                # 429 is transient too: the server asks us to slow down, not to give up.
                if self.behaviour.honour_retry_after:
                    delay = _retry_after(response, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_BACKOFF_S)
        raise AssertionError("unreachable")


def _calendar_due(received: datetime, days: int) -> datetime:
    """The calendar-day-deadlines fault: `days` calendar days with the day of filing as day
    one, at 17:00 — never before the reception itself, so the portal still accepts it."""
    last = received.astimezone(VN_TZ).date() + timedelta(days=max(days - 1, 0))
    return max(datetime.combine(last, time(17, 0), VN_TZ), received)


def _fee_line(fee: Fee) -> dict[str, Any]:
    # HinhThucThu 2: paid online through the portal (the 766 index counts it).
    return {
        "MaPhiLePhi": fee.code,
        "TenPhiLePhi": fee.name,
        "Gia": fee.amount_vnd,
        "HinhThucThu": 2,
    }


def _retry_after(response: httpx.Response, default: float) -> float:
    """How long the server asked us to wait (RFC 9110 §10.2.3: delay-seconds or an
    HTTP-date), bounded; `default` when it did not say or said something unreadable."""
    value = response.headers.get("retry-after", "").strip()[:64]
    if value.isdigit():
        return min(float(value), _MAX_RETRY_AFTER_S)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return default
    if moment.tzinfo is None:  # RFC 9110 dates are GMT; a zone-less one is read as such
        moment = moment.replace(tzinfo=UTC)
    wait = (moment - datetime.now(UTC)).total_seconds()
    return min(max(wait, 0.0), _MAX_RETRY_AFTER_S)


def _timeout_for(
    resource: str, behaviour: Behaviour, default: httpx.Timeout
) -> httpx.Timeout | None:
    """Population calls are time-limited tighter than the client's `default` (see
    _POPULATION_TIMEOUT_S), portal syncs by `default`; None, with the faults that wait
    however long a call takes."""
    if resource != POPULATION:
        return default if behaviour.time_limit_portal else None
    return httpx.Timeout(_POPULATION_TIMEOUT_S) if behaviour.time_limit_population else None
