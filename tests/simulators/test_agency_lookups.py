"""How the reference agency reads its applicants' records, and how the three faulty ones
get it wrong — seen, as the harness sees it, in the population database's audit log."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from simulators.agencies.catalogue import FAULTS, REFERENCE
from simulators.agencies.lookups import CONSENT_FIELD, PURPOSE, RESIDENCE_FIELDS
from simulators.identity.credentials import issue_credentials
from simulators.sandbox import Sandbox

_AGENCIES = {
    "reference": ("000.00.61.H29", REFERENCE),
    **{
        name: (f"000.00.{62 + i}.H29", FAULTS[name].behaviour)
        for i, name in enumerate(
            ("reads-without-purpose", "over-asks-fields", "uses-withdrawn-consent")
        )
    },
}
_serial = itertools.count(1)


@dataclass
class World:
    sandbox: Sandbox
    http: httpx.Client
    urls: dict[str, str]
    citizens: list[dict[str, Any]]

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.sandbox.info.admin_token}"}

    def token(self, agency_id: str) -> dict[str, str]:
        response = self.http.post(
            f"{self.sandbox.info.identity_url}/admin/tokens",
            headers=self.admin,
            json={
                "audience": f"urn:lienthong:agency:{agency_id}",
                "scope": "dossier.submit dossier.read",
            },
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def submit(self, name: str, citizen: dict[str, Any], **data: Any) -> str:
        agency_id = _AGENCIES[name][0]
        code = f"{agency_id}-250115-{next(_serial):04d}"
        body = {
            "MaHoSo": code,
            "MaTTHC": "1.004194",
            "NgayNopHoSo": "20250115143000",
            "KenhNop": 2,
            "TrichYeuHoSo": "Đăng ký tạm trú",
            "ChuHoSo": {
                "SoDinhDanh": citizen["pin"],
                "HoVaTen": citizen["full_name"],
                "NgaySinh": citizen["date_of_birth"].replace("-", ""),
            },
            "DuLieuHoSo": data,
        }
        response = self.http.post(
            f"{self.urls[name]}/dossiers", json=body, headers=self.token(agency_id)
        )
        assert response.status_code == 202, response.text
        return code

    def status(self, name: str, code: str) -> int:
        headers = self.token(_AGENCIES[name][0])
        response = self.http.get(f"{self.urls[name]}/dossiers/{code}", headers=headers)
        return int(response.json()["TrangThaiHoSo"])

    def wait_status(self, name: str, code: str, wanted: int) -> None:
        deadline = time.monotonic() + 10
        while self.status(name, code) != wanted:
            assert time.monotonic() < deadline, f"{code} never reached {wanted}"
            time.sleep(0.05)

    def reads(self, name: str, pin: str, after_id: int = 0) -> list[dict[str, Any]]:
        response = self.http.get(
            f"{self.sandbox.info.population_url}/admin/audit",
            headers=self.admin,
            params={"client_id": _AGENCIES[name][0], "pin": pin, "after_id": after_id},
        )
        entries: list[dict[str, Any]] = response.json()["entries"]
        return [e for e in entries if e["operation"] == "lookup"]

    def consent(self, name: str, pin: str) -> str:
        fields = ["full_name", *RESIDENCE_FIELDS]
        body = {
            "pin": pin,
            "client_id": _AGENCIES[name][0],
            "purpose": PURPOSE,
            "fields": fields,
            "valid_for_s": 3600,
        }
        url = f"{self.sandbox.info.population_url}/admin/consents"
        response = self.http.post(url, json=body, headers=self.admin)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    state_dir = tmp_path_factory.mktemp("sandbox")
    with Sandbox(state_dir, population_size=60, seed=9) as sandbox, httpx.Client() as http:
        urls = {
            name: sandbox.start_agency(
                issue_credentials(state_dir, agency_id), behaviour=behaviour, name=name
            ).url
            for name, (agency_id, behaviour) in _AGENCIES.items()
        }
        sample = http.get(
            f"{sandbox.info.population_url}/admin/citizens/sample",
            params={"count": 8},
            headers={"Authorization": f"Bearer {sandbox.info.admin_token}"},
        )
        yield World(sandbox, http, urls, sample.json()["citizens"])


def _wait_reads(world: World, name: str, pin: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while len(reads := world.reads(name, pin)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return reads


def test_the_reference_reads_the_residence_under_its_purpose_and_legal_basis(
    world: World,
) -> None:
    citizen = world.citizens[0]
    world.wait_status("reference", world.submit("reference", citizen), 4)
    [read] = _wait_reads(world, "reference", citizen["pin"], 1)
    assert read["result"] == "ok" and read["fields"] == list(RESIDENCE_FIELDS)
    assert read["purpose"] == PURPOSE and read["legal_basis"]


def test_a_read_without_purpose_is_refused_but_does_not_stop_the_dossier(world: World) -> None:
    citizen = world.citizens[1]
    world.wait_status("reads-without-purpose", world.submit("reads-without-purpose", citizen), 4)
    [read] = _wait_reads(world, "reads-without-purpose", citizen["pin"], 1)
    assert read["result"] == "refused" and read.get("purpose") is None


def test_over_asking_reaches_for_family_fields_and_is_refused(world: World) -> None:
    citizen = world.citizens[2]
    world.wait_status("over-asks-fields", world.submit("over-asks-fields", citizen), 4)
    [read] = _wait_reads(world, "over-asks-fields", citizen["pin"], 1)
    assert read["result"] == "refused" and "father_pin" in read["fields"]


@pytest.mark.parametrize(("name", "reads_after"), [("reference", 0), ("uses-withdrawn-consent", 1)])
def test_after_the_consent_is_withdrawn_only_the_faulty_agency_reads_under_it(
    world: World, name: str, reads_after: int
) -> None:
    citizen = world.citizens[3 if name == "reference" else 4]
    consent_id = world.consent(name, citizen["pin"])
    code = world.submit(name, citizen, **{CONSENT_FIELD: consent_id, "ThieuGiayTo": True})
    world.wait_status(name, code, 5)
    [read] = _wait_reads(world, name, citizen["pin"], 1)
    assert read["consent_id"] == consent_id and read["result"] == "ok"
    mark = int(read["id"])

    url = f"{world.sandbox.info.population_url}/admin/consents/{consent_id}/withdraw"
    assert world.http.post(url, headers=world.admin).status_code == 200
    supplement = {"NgayBoSung": "20250116090000", "TaiLieuNop": [{"TenTepDinhKem": "a.pdf"}]}
    agency_id = _AGENCIES[name][0]
    answer = world.http.post(
        f"{world.urls[name]}/dossiers/{code}/supplements",
        json=supplement,
        headers=world.token(agency_id),
    )
    assert answer.status_code == 202, answer.text
    world.wait_status(name, code, 4)
    time.sleep(0.3)  # a read that follows the resumption lands in the log
    after = world.reads(name, citizen["pin"], after_id=mark)
    assert len(after) == reads_after
    assert all(e["consent_id"] == consent_id and e["result"] == "refused" for e in after)
