"""A birth group end to end through the sandbox: the portal routes each member to a
reference agency, the agencies verify the declarant at the population database and sync,
and once the birth registration is processed the portal registers the child there and
shows the PIN — every hop over HTTP, with tokens from the identity provider."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulators.common.clock import now_vn
from simulators.identity.credentials import issue_credentials
from simulators.sandbox import Sandbox

pytestmark = pytest.mark.slow

# One reference agency per authority of the birth group.
AGENCIES = {
    "civil-status": "000.00.10.H29",
    "residence": "000.00.11.H29",
    "health-insurance": "000.00.12.H29",
}
POLL_S = 20.0


@dataclass
class World:
    sandbox: Sandbox
    http: httpx.Client
    declarant: dict[str, Any]

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.sandbox.info.admin_token}"}

    def token(self, audience: str, scope: str, agency: str = "lienthong-test") -> str:
        """A token minted by the sandbox identity provider's admin surface."""
        body = {"audience": audience, "scope": scope, "subject": agency, "agency_id": agency}
        url = f"{self.sandbox.info.identity_url}/admin/tokens"
        response = self.http.post(url, json=body, headers=self.admin)
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def portal(self, method: str, path: str, **options: Any) -> Any:
        response = self.http.request(method, f"{self.sandbox.info.portal_url}{path}", **options)
        assert response.status_code < 300, response.text
        return response.json()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    state_dir: Path = tmp_path_factory.mktemp("sandbox")
    with (
        Sandbox(state_dir, population_size=60, seed=11) as sandbox,
        httpx.Client(timeout=10.0) as http,
    ):
        for role, agency in AGENCIES.items():
            sandbox.start_agency(issue_credentials(state_dir, agency), name=role)
        sample = http.get(
            f"{sandbox.info.population_url}/admin/citizens/sample",
            params={"count": 1},
            headers={"Authorization": f"Bearer {sandbox.info.admin_token}"},
        )
        assert sample.status_code == 200, sample.text
        yield World(sandbox, http, sample.json()["citizens"][0])


def poll(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + POLL_S
    while (result := check()) is None or result is False:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
    return result


def declaration(world: World) -> dict[str, Any]:
    parent = world.declarant
    born = now_vn() - timedelta(days=3)
    child = {
        "HoVaTen": "Lê Minh Khang",
        "NgaySinh": born.strftime("%Y%m%d"),
        "GioiTinh": "female",
        "NoiDangKyKhaiSinh": parent["pin"][:3],
        "SoDinhDanhMe" if parent["sex"] == "female" else "SoDinhDanhCha": parent["pin"],
    }
    return {
        "NhomLienThong": "birth",
        "ChuHoSo": {
            "SoDinhDanh": parent["pin"],
            "HoVaTen": parent["full_name"],
            "NgaySinh": parent["date_of_birth"].replace("-", ""),
        },
        "CoQuan": AGENCIES,
        "TreEm": child,
    }


def members(world: World, code: str) -> dict[str, dict[str, Any]]:
    group = world.portal("GET", f"/v1/citizen/groups/{code}")
    return {m["VaiTro"]: m for m in group["HoSoThanhPhan"]}


def at_status(world: World, code: str, role: str, status: int) -> dict[str, Any] | None:
    member = members(world, code)[role]
    return member if member["TrangThaiHoSo"] == status else None


def settled_pin(world: World, code: str) -> dict[str, Any] | None:
    """DinhDanhTre once the population database has answered (assigned or failed)."""
    child: dict[str, Any] = world.portal("GET", f"/v1/citizen/groups/{code}")["DinhDanhTre"]
    return None if child["TrangThai"] in ("waiting", "pending") else child


def finish(world: World, member: dict[str, Any], *statuses: int) -> None:
    """What the agency's officer does after its system accepted the dossier: the
    reference agency stops at 4 (in process), so the test syncs the result as that agency."""
    dossier = world.portal("GET", f"/v1/citizen/dossiers/{member['MaHoSo']}")
    agency = member["DonViXuLy"]
    headers = {
        "Authorization": f"Bearer {world.token('urn:lienthong:portal', 'portal.sync', agency)}"
    }
    for status in statuses:
        payload = {
            "MaHoSo": member["MaHoSo"],
            "MaTTHC": member["MaTTHC"],
            "TrangThaiHoSo": status,
            "NgayTiepNhan": dossier["NgayTiepNhan"],
            "DonViXuLy": agency,
        }
        world.portal("POST", "/v1/status-sync", json=payload, headers=headers)


def test_a_birth_group_runs_end_to_end(world: World) -> None:
    body = declaration(world)
    group = world.portal("POST", "/v1/citizen/groups", json=body)
    code = group["MaNhom"]
    assert group["DinhDanhTre"]["TrangThai"] == "waiting"

    # The outbox delivered the birth registration; the agency verified the declarant at
    # the population database and synced 2, then 4.
    civil = poll(lambda: at_status(world, code, "civil-status", 4), "civil status at 4")
    finish(world, civil, 9)

    # Residence and the health-insurance card are released and accepted by their agencies;
    # the child is registered at the population database as the portal's civil-status client.
    poll(lambda: at_status(world, code, "residence", 4), "residence at 4")
    poll(lambda: at_status(world, code, "health-insurance", 4), "health insurance at 4")
    child = poll(lambda: settled_pin(world, code), "the child's PIN")
    assert child["TrangThai"] == "assigned", child
    pin = child["SoDinhDanh"]
    born_year = body["TreEm"]["NgaySinh"][2:4]
    assert pin[:3] == body["TreEm"]["NoiDangKyKhaiSinh"] and pin[3:6] == f"3{born_year}"

    born = body["TreEm"]["NgaySinh"]
    verify = world.http.post(
        f"{world.sandbox.info.population_url}/v1/citizens/verify",
        json={
            "pin": pin,
            "full_name": body["TreEm"]["HoVaTen"],
            "date_of_birth": f"{born[:4]}-{born[4:6]}-{born[6:]}",
        },
        headers={
            "Authorization": f"Bearer {world.token('urn:lienthong:population', 'citizen.verify')}"
        },
    )
    assert verify.status_code == 200 and verify.json()["result"] == "match", verify.text

    now = members(world, code)
    finish(world, now["residence"], 9, 10)
    finish(world, now["health-insurance"], 9, 10)
    done = world.portal("GET", f"/v1/citizen/groups/{code}")
    assert (done["TrangThaiNhom"], done["QuaHan"]) == ("done", False)
    assert done["DinhDanhTre"]["SoDinhDanh"] == pin

    outbox = world.portal("GET", "/admin/outbox", headers=world.admin)
    births = [m for m in outbox["messages"] if m["kind"] == "birth"]
    assert [(m["agency_id"], m["state"], m["MaHoSo"]) for m in births] == [
        ("population", "delivered", code)
    ]
    assert outbox["counts"]["dead"] == 0
