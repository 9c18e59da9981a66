"""Declarative dossier scenarios (scenarios/procedures/*.yaml, scenarios/groups/*.yaml).

Each file is validated by scenarios/scenario.schema.json, then cross-checked against the
specs it names: the procedure exists in specs/procedures.yaml, a group's members belong to
the group of that file, each citizen action is one the lifecycle allows in the status
before it (`x-allowed-statuses` of specs/agency.yaml), a payment is for a procedure with a
fee, and the golden portal sequence is a legal path of specs/dossier-lifecycle.yaml that
passes through every golden agency status in order. A bad file is a ConfigError naming
the file, the field and the fix.

A scenario becomes one `Walk` per dossier: a procedure scenario is one, a group scenario
one per member dossier, as the portal routes them (simulators/portal/groups.py: the
declarant as ChuHoSo, the declaration's form data, "<procedure> (nhóm <group>)" as
TrichYeuHoSo).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from harness._resources import data_dir
from harness.errors import ConfigError

__all__ = [
    "ACTIONS",
    "FALLBACK_PROCEDURE",
    "Plan",
    "Rules",
    "Scenario",
    "ScenarioCatalogue",
    "Step",
    "Walk",
    "load_rules",
    "load_scenarios",
    "parse_procedures",
    "scenario_from_dict",
    "scenarios_dir",
]

# Citizen actions after the submission → the operationId whose x-allowed-statuses say when.
ACTIONS = {"pay": "recordPayment", "supplement": "supplementDossier", "withdraw": "withdrawDossier"}
# What an agency that does not answer GET /procedures is certified on.
FALLBACK_PROCEDURE = "1.004194"
_SCHEMA = "scenario.schema.json"
_CODE = re.compile(r"^[0-9]\.[0-9]{6}$")


@dataclass(frozen=True, slots=True)
class Step:
    action: str  # submit | pay | supplement | withdraw
    agency: int  # the status the dossier must settle in afterwards


@dataclass(frozen=True, slots=True)
class Walk:
    """One dossier of a scenario: what to submit and do, and the golden outcome."""

    file: str  # relative to scenarios/, e.g. "groups/birth.yaml"
    procedure: str
    procedure_name: str
    group: str | None
    form: Mapping[str, Any]
    steps: tuple[Step, ...]
    portal: tuple[int, ...]
    fee_vnd: int

    @property
    def label(self) -> str:
        return f"{self.file} (member {self.procedure})" if self.group else self.file


@dataclass(frozen=True, slots=True)
class Scenario:
    file: str
    title: str
    group: str | None
    applicant: str
    walks: tuple[Walk, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    """The walks a run performs, and the procedures in scope it leaves out, with why."""

    walks: tuple[Walk, ...]
    undeclared: tuple[str, ...]  # in scope, not declared by the agency: skipped

    @property
    def scenarios(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(w.file for w in self.walks))


@dataclass(frozen=True, slots=True)
class ScenarioCatalogue:
    scenarios: tuple[Scenario, ...]
    procedures: frozenset[str]  # every code of specs/procedures.yaml

    def plan(self, scope: Iterable[str] | None, declared: Iterable[str]) -> Plan:
        """The walks for the procedures in `scope` (None: all declared) that the agency
        declares; a group scenario keeps only its members in scope and declared."""
        handled = frozenset(declared)
        wanted = handled if scope is None else frozenset(scope)
        walks = tuple(
            w
            for s in self.scenarios
            for w in s.walks
            if w.procedure in wanted and w.procedure in handled
        )
        return Plan(walks, tuple(sorted((wanted - handled) & self.procedures)))


@dataclass(frozen=True, slots=True)
class Rules:
    """What the cross-checks hold scenarios to, from specs/ (never from simulator code)."""

    statuses: frozenset[int]
    initial: frozenset[int]
    transitions: Mapping[int, frozenset[int]]
    finished: frozenset[int]
    allows: Mapping[str, frozenset[int]]  # action → statuses that allow it
    procedures: Mapping[str, dict[str, Any]]  # code → catalogue entry
    groups: Mapping[str, dict[str, Any]]

    def fee_vnd(self, procedure: str) -> int:
        fees = self.procedures[procedure].get("fees") or []
        return sum(int(fee["amount_vnd"]) for fee in fees)


def scenarios_dir() -> Path:
    return data_dir("scenarios")


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"{path} cannot be read: {' '.join(str(exc).split())}; "
            "fix: write valid YAML (scenarios/README.md)"
        ) from None


@cache
def load_rules() -> Rules:
    specs = data_dir("specs")
    lifecycle = _read_yaml(specs / "dossier-lifecycle.yaml")
    agency = _read_yaml(specs / "agency.yaml")
    catalogue = _read_yaml(specs / "procedures.yaml")
    operations = {
        op["operationId"]: op
        for item in agency["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    }
    return Rules(
        statuses=frozenset(int(s) for s in lifecycle["statuses"]),
        initial=frozenset(int(s) for s in lifecycle["initial"]),
        transitions={
            int(s): frozenset(int(t) for t in targets)
            for s, targets in lifecycle["transitions"].items()
        },
        finished=frozenset(int(s) for s in lifecycle.get("finished", [])),
        allows={
            action: frozenset(int(s) for s in operations[op_id]["x-allowed-statuses"])
            for action, op_id in ACTIONS.items()
        },
        procedures={str(p["code"]): p for p in catalogue["procedures"]},
        groups=dict(catalogue.get("groups", {})),
    )


@cache
def _validators() -> dict[str, jsonschema.Draft202012Validator]:
    """One validator per kind of scenario, so an error points inside the right kind
    instead of at "not valid under any of the given schemas"."""
    path = scenarios_dir() / _SCHEMA
    schema = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    base = {k: v for k, v in schema.items() if k != "oneOf"}
    return {
        kind: jsonschema.Draft202012Validator({**base, "$ref": f"#/$defs/{kind}Scenario"})
        for kind in ("procedure", "group")
    }


def _invalid(origin: str, where: str, problem: str, fix: str) -> ConfigError:
    return ConfigError(f"scenario {origin} is invalid at {where}: {problem}; fix: {fix}")


def _check_schema(document: Any, origin: str) -> None:
    if not isinstance(document, dict):
        raise _invalid(origin, "(top level)", "not a mapping", "write `procedure:` or `group:` …")
    kind = "group" if "group" in document else "procedure"
    error = jsonschema.exceptions.best_match(_validators()[kind].iter_errors(document))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise _invalid(
            origin, where, error.message, f"see scenarios/{_SCHEMA} ($defs/{kind}Scenario)"
        )


def _check_steps(origin: str, where: str, steps: list[Step], fee: int, rules: Rules) -> None:
    """Submit first and only first; each action allowed in the status before it."""
    for index, step in enumerate(steps):
        field = f"{where}steps/{index}"
        if (index == 0) != (step.action == "submit"):
            raise _invalid(
                origin,
                f"{field}/do",
                f"{step.action!r} as step {index + 1}",
                "the first step, and only the first, is `do: submit`",
            )
        if step.agency not in rules.statuses:
            raise _invalid(
                origin,
                f"{field}/agency",
                f"status {step.agency} is not in the lifecycle",
                f"one of {sorted(rules.statuses)} (specs/dossier-lifecycle.yaml)",
            )
        if index and steps[index - 1].agency not in rules.allows[step.action]:
            raise _invalid(
                origin,
                f"{field}/do",
                f"{step.action} after status {steps[index - 1].agency}",
                f"{step.action} is allowed only in status {sorted(rules.allows[step.action])} "
                f"(x-allowed-statuses of {ACTIONS[step.action]} in specs/agency.yaml)",
            )
        if step.action == "pay" and fee <= 0:
            raise _invalid(
                origin,
                f"{field}/do",
                "a payment for a procedure without fees",
                "pay only for a procedure with `fees` in specs/procedures.yaml",
            )


def _check_portal(
    origin: str, where: str, portal: tuple[int, ...], steps: list[Step], rules: Rules
) -> None:
    """A legal path from an initial status, through each golden agency status in order."""
    field = f"{where}portal"
    unknown = [s for s in portal if s not in rules.statuses]
    if unknown:
        raise _invalid(
            origin,
            field,
            f"statuses {unknown} are not in the lifecycle",
            f"use statuses of {sorted(rules.statuses)}",
        )
    if portal[0] not in rules.initial:
        raise _invalid(
            origin,
            f"{field}/0",
            f"a dossier's first sync cannot be {portal[0]}",
            f"start with one of {sorted(rules.initial)}",
        )
    for index in range(1, len(portal)):
        before, after = portal[index - 1], portal[index]
        if after not in rules.transitions.get(before, frozenset()):
            raise _invalid(
                origin,
                f"{field}/{index}",
                f"{before} → {after} is not a lifecycle transition",
                f"from {before} only {sorted(rules.transitions.get(before, ()))} "
                "(specs/dossier-lifecycle.yaml)",
            )
    position = 0
    for index, step in enumerate(steps):
        try:
            position = portal.index(step.agency, position)
        except ValueError:
            raise _invalid(
                origin,
                f"{where}steps/{index}/agency",
                f"status {step.agency} is not in `portal` {list(portal)} after the earlier steps",
                "the portal must receive every status the agency settles in, in order",
            ) from None
    if portal[-1] != steps[-1].agency:
        raise _invalid(
            origin,
            field,
            f"ends with {portal[-1]}, the last step with {steps[-1].agency}",
            "end `portal` with the last step's status",
        )


def _walk(
    origin: str, where: str, raw: dict[str, Any], form: dict[str, Any], group: str | None
) -> Walk:
    rules = load_rules()
    code = str(raw["procedure"])
    if code not in rules.procedures:
        raise _invalid(
            origin,
            f"{where}procedure",
            f"{code!r} is not in specs/procedures.yaml",
            'use a code of specs/procedures.yaml, e.g. "1.004194"',
        )
    steps = [Step(str(s["do"]), int(s["agency"])) for s in raw["steps"]]
    fee = rules.fee_vnd(code)
    _check_steps(origin, where, steps, fee, rules)
    portal = tuple(int(s) for s in raw["portal"])
    _check_portal(origin, where, portal, steps, rules)
    name = str(rules.procedures[code].get("name_vi", code))
    return Walk(origin, code, name, group, dict(form), tuple(steps), portal, fee)


def _check_members(origin: str, group: str, codes: list[str]) -> None:
    spec = load_rules().groups.get(group)
    if spec is None:
        raise _invalid(
            origin,
            "group",
            f"{group!r} is not a group of specs/procedures.yaml",
            f"one of {sorted(load_rules().groups)}",
        )
    entries = [m for step in spec["steps"] for m in step]
    allowed = {str(m["procedure"]) for m in entries}
    for index, code in enumerate(codes):
        if code not in allowed or code in codes[:index]:
            problem = "a second time" if code in allowed else f"not a member of the {group} group"
            raise _invalid(
                origin,
                f"members/{index}/procedure",
                f"{code!r} {problem}",
                f"list each of {sorted(allowed)} at most once",
            )
    missing = sorted(str(m["procedure"]) for m in entries if not m.get("optional"))
    missing = [code for code in missing if code not in codes]
    if missing:
        raise _invalid(
            origin,
            "members",
            f"the required members {missing} are missing",
            "every declaration has them (specs/procedures.yaml groups)",
        )


def scenario_from_dict(document: Any, origin: str) -> Scenario:
    """A validated, cross-checked scenario; `origin` names it in errors (e.g. its path)."""
    _check_schema(document, origin)
    group = document.get("group")
    form = dict(document["form"])
    walks: tuple[Walk, ...]
    if group is None:
        walks = (_walk(origin, "", document, form, None),)
    else:
        members = document["members"]
        _check_members(origin, group, [str(m["procedure"]) for m in members])
        walks = tuple(_walk(origin, f"members/{i}/", m, form, group) for i, m in enumerate(members))
    return Scenario(origin, str(document["title"]), group, str(document["applicant"]), walks)


def _check_file_name(path: Path, scenario: Scenario, origin: str) -> None:
    expected = scenario.group or scenario.walks[0].procedure
    if path.stem != expected:
        field = "group" if scenario.group else "procedure"
        raise _invalid(
            origin,
            field,
            f"{expected!r} does not match the file name {path.name}",
            f"name the file {expected}.yaml or correct `{field}`",
        )


def _load_dir(root: Path) -> tuple[Scenario, ...]:
    scenarios = []
    for kind in ("procedures", "groups"):
        for path in sorted((root / kind).glob("*.yaml")):
            origin = f"{kind}/{path.name}"
            scenario = scenario_from_dict(_read_yaml(path), origin)
            _check_file_name(path, scenario, origin)
            scenarios.append(scenario)
    return tuple(scenarios)


@cache
def load_scenarios(root: Path | None = None) -> ScenarioCatalogue:
    """Every scenario under `root` (scenarios/ by default), validated and cross-checked."""
    scenarios = _load_dir(root or scenarios_dir())
    return ScenarioCatalogue(scenarios, frozenset(load_rules().procedures))


def parse_procedures(text: str, option: str = "--procedures") -> tuple[str, ...]:
    """`1.004194,1.001193` → the codes, each checked against specs/procedures.yaml."""
    known = load_rules().procedures
    codes = [part.strip() for part in text.split(",")]
    for code in codes:
        if not _CODE.fullmatch(code):
            problem = "is not a procedure code"
        elif code not in known:
            problem = "is not a procedure of specs/procedures.yaml"
        else:
            continue
        raise ConfigError(
            f"{option} {code!r} {problem}; use comma-separated codes of "
            f"specs/procedures.yaml, e.g. {option} 1.004194,1.001193"
        )
    return tuple(dict.fromkeys(codes))
