"""What the agency does with a dossier after accepting it: verify, decide, sync.

Runs as a background task per dossier. Outbound calls carry tokens from the identity
provider, time out, and retry transient failures (429, 5xx, network) with backoff.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from simulators.agencies.catalogue import Behaviour
from simulators.agencies.store import AgencyStore, Dossier
from simulators.common.clock import add_working_days, format_dvc, now_vn, parse_dvc
from simulators.common.oauth_client import TokenClient, TokenRequestError
from simulators.identity.resources import POPULATION, PORTAL

__all__ = ["Processor"]

log = logging.getLogger(__name__)

_TRANSIENT = {429, 500, 502, 503, 504}
_ATTEMPTS = 4


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
            for status in (2, 4) if verdict == "match" else (3,):
                self.store.set_status(code, status)
                await self._sync(dossier, status)
        except (httpx.HTTPError, TokenRequestError, ValueError) as exc:
            # The dossier stays at its last status; a real system would park it for retry.
            log.warning("processing of %s stopped: %s", code, exc)

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
        due = add_working_days(received, self.deadline_days.get(dossier.procedure_code, 3))
        payload = {
            "MaHoSo": dossier.code,
            "MaTTHC": dossier.procedure_code,
            "TrangThaiHoSo": status,
            "NgayTiepNhan": self._date(received),
            "NgayHenTra": self._date(due),
            "NgayCapNhat": self._date(now_vn()),
            "DonViXuLy": self.agency_id,
        }
        if status == 3:
            payload["GhiChu"] = "Thông tin người nộp không khớp CSDLQG về dân cư"
        return payload

    def _date(self, moment: datetime) -> str:
        return format_dvc(moment) if self.behaviour.dvc_date_format else moment.isoformat()

    async def _call(
        self, method: str, url: str, resource: str, scope: str, body: dict[str, Any]
    ) -> httpx.Response:
        delay = 0.2
        attempts = _ATTEMPTS if self.behaviour.retry_transient else 1
        for attempt in range(1, attempts + 1):
            token = await self.tokens.token(resource, scope)
            try:
                response = await self.http.request(
                    method, url, json=body, headers={"Authorization": f"Bearer {token}"}
                )
            except httpx.TransportError:
                if attempt == attempts:
                    raise
            else:
                if response.status_code not in _TRANSIENT or attempt == attempts:
                    return response
                delay = _retry_after(response, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")


def _retry_after(response: httpx.Response, default: float) -> float:
    value = response.headers.get("retry-after", "")
    return min(float(value), 10.0) if value.isdigit() else default
