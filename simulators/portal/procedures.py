"""The procedure catalogue of specs/procedures.yaml as typed records.

The portal routes, prices and times dossiers from it; `LayThuTuc` and `/v1/procedures`
serve it to agencies and citizens.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from simulators.common.resources import load_yaml_spec

__all__ = [
    "Catalogue",
    "Fee",
    "GroupMember",
    "GroupStep",
    "Procedure",
    "ProcedureGroup",
    "load_catalogue",
]

PROCEDURES_FILE = "procedures.yaml"
FULL_ONLINE = "full-process online"


@dataclass(frozen=True, slots=True)
class Fee:
    code: str
    name: str
    amount_vnd: int


@dataclass(frozen=True, slots=True)
class Procedure:
    code: str
    code_source: str
    name_vi: str
    name_en: str
    field: str
    agency_level: str
    deadline_working_days: int
    fees: tuple[Fee, ...]
    components: tuple[str, ...]
    service_level: str
    group: str | None = None

    @property
    def fee_total_vnd(self) -> int:
        return sum(fee.amount_vnd for fee in self.fees)

    @property
    def full_online(self) -> bool:
        return self.service_level == FULL_ONLINE

    def as_dict(self) -> dict[str, Any]:
        return {
            "MaTTHC": self.code,
            "NguonMa": self.code_source,
            "TenTTHC": self.name_vi,
            "TenTTHC_en": self.name_en,
            "TenLinhVuc": self.field,
            "CapThucHien": self.agency_level,
            "ThoiHanGiaiQuyet": self.deadline_working_days,
            "MucDo": self.service_level,
            "DanhSachLePhi": [
                {"MaPhiLePhi": f.code, "TenPhiLePhi": f.name, "Gia": f.amount_vnd}
                for f in self.fees
            ],
            "ThanhPhanHoSo": list(self.components),
            "NhomLienThong": self.group,
        }


@dataclass(frozen=True, slots=True)
class GroupMember:
    role: str
    procedure: str
    optional: bool = False


GroupStep = tuple[GroupMember, ...]


@dataclass(frozen=True, slots=True)
class ProcedureGroup:
    name: str
    procedure: str
    deadline_working_days: int
    supplement_working_days: int
    steps: tuple[GroupStep, ...]
    benefit_routes: dict[str, str]
    # The role whose finishing makes the portal ask for the child's PIN (births.py).
    child_pin_after: str | None = None

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(m.role for step in self.steps for m in step)


@dataclass(frozen=True, slots=True)
class Catalogue:
    procedures: dict[str, Procedure]
    essential: tuple[str, ...]
    groups: dict[str, ProcedureGroup]

    def get(self, code: str) -> Procedure | None:
        return self.procedures.get(code)


def _procedure(entry: dict[str, Any]) -> Procedure:
    fees = tuple(
        Fee(str(f["code"]), str(f["name"]), int(f["amount_vnd"])) for f in entry.get("fees", ())
    )
    return Procedure(
        code=str(entry["code"]),
        code_source=str(entry.get("code_source", "recall")),
        name_vi=str(entry["name_vi"]),
        name_en=str(entry["name_en"]),
        field=str(entry["field"]),
        agency_level=str(entry["agency_level"]),
        deadline_working_days=int(entry["deadline_working_days"]),
        fees=fees,
        components=tuple(str(c) for c in entry.get("components", ())),
        service_level=str(entry["service_level"]),
        group=entry.get("group"),
    )


def _group(name: str, entry: dict[str, Any]) -> ProcedureGroup:
    steps = tuple(
        tuple(
            GroupMember(str(m["role"]), str(m["procedure"]), bool(m.get("optional", False)))
            for m in step
        )
        for step in entry["steps"]
    )
    return ProcedureGroup(
        name=name,
        procedure=str(entry["procedure"]),
        deadline_working_days=int(entry["deadline_working_days"]),
        supplement_working_days=int(entry["supplement_working_days"]),
        steps=steps,
        benefit_routes={str(k): str(v) for k, v in entry.get("benefit_routes", {}).items()},
        child_pin_after=entry.get("child_pin_after"),
    )


@cache
def load_catalogue() -> Catalogue:
    """The catalogue, parsed and cross-checked once per process."""
    data = load_yaml_spec(PROCEDURES_FILE)
    procedures = {p.code: p for p in map(_procedure, data["procedures"])}
    groups = {name: _group(name, entry) for name, entry in data.get("groups", {}).items()}
    catalogue = Catalogue(procedures, tuple(data.get("essential", ())), groups)
    _check_references(catalogue)
    return catalogue


def _check_references(catalogue: Catalogue) -> None:
    # A typo in a group or in the essential list would otherwise route to nowhere.
    referenced = set(catalogue.essential)
    for group in catalogue.groups.values():
        referenced.add(group.procedure)
        referenced |= {m.procedure for step in group.steps for m in step}
    unknown = sorted(referenced - set(catalogue.procedures))
    if unknown:
        raise ValueError(f"{PROCEDURES_FILE} references undefined procedures {unknown}")
    for group in catalogue.groups.values():
        if group.child_pin_after not in (None, *group.roles):
            raise ValueError(
                f"{PROCEDURES_FILE}: group {group.name} has child_pin_after "
                f"{group.child_pin_after!r}, not one of its roles {sorted(group.roles)}"
            )
