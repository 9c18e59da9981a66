"""Read-only views: the procedure catalogue, and the 766 index as JSON and as HTML."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from simulators.common.http import json_response
from simulators.common.problems import FieldError, ProblemError
from simulators.portal.index766 import Feedback, agency_index
from simulators.portal.params import text_param
from simulators.portal.sync import SyncRules

__all__ = ["Views"]

_DASHBOARD = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8">
<title>Chỉ số 766 — lienthong reference portal</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}
td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}
td:first-child,th:first-child,td.name{text-align:left}
.total{font-size:1.4rem}
</style></head><body>
<h1>Bộ chỉ số 766 (Decision 766/QĐ-TTg)</h1>
<p>Computed at {{ computed_at }} from the dossiers synced to this reference portal.
Indicator selection and point split are ours; see specs/index-766.yaml.</p>
{% if not agencies %}<p>No dossier has reached the portal yet.</p>{% endif %}
{% for a in agencies %}
<h2>{{ a.agency_id }} — <span class="total">{{ a.total }} / {{ a.max_total }}</span></h2>
<p>{{ a.dossiers }} dossiers</p>
<table><tr><th>group</th><th>score</th><th>points</th></tr>
{% for g in a.groups %}
<tr><td>{{ g.name_vi }}</td><td>{{ g.score }}</td><td>{{ g.points }}</td></tr>
{% endfor %}</table>
<table><tr><th>indicator</th><th>rate</th><th>target</th><th>score</th><th>max</th></tr>
{% for i in a.indicators %}<tr><td class="name">{{ i.id }} {{ i.name }}</td>
<td>{{ "—" if i.rate is none else "%.1f%%" % (i.rate * 100) }}</td>
<td>{{ "%.0f%%" % (i.target * 100) }}</td><td>{{ i.score }}</td><td>{{ i.max_points }}</td></tr>
{% endfor %}</table>
{% endfor %}
</body></html>
"""


class Views:
    def __init__(self, rules: SyncRules) -> None:
        self.rules = rules
        self.store = rules.store
        env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
        self._dashboard = env.from_string(_DASHBOARD)

    async def procedures(self, request: Request) -> Response:
        catalogue = self.rules.catalogue
        data = [p.as_dict() for p in catalogue.procedures.values()]
        return json_response({"procedures": data, "essential": list(catalogue.essential)})

    async def procedure(self, request: Request) -> Response:
        code = request.path_params["code"]
        procedure = self.rules.catalogue.get(code)
        if procedure is None:
            raise ProblemError(
                404,
                "Not found",
                f"No procedure {code[:60]!r} in the catalogue.",
                errors=(FieldError("code", "unknown procedure", "see GET /v1/procedures"),),
            )
        return json_response(procedure.as_dict())

    def indexes(self, agency_id: str | None) -> list[dict[str, Any]]:
        agencies = [agency_id] if agency_id is not None else self.store.agencies()
        now = self.rules.clock.now()
        return [
            agency_index(
                agency,
                self.store.dossiers(agency),
                self._feedback(agency),
                self._ratings(agency),
                self.rules.catalogue,
                now,
            )
            for agency in agencies
        ]

    def _feedback(self, agency_id: str) -> list[Feedback]:
        rows = self.store.db.execute(
            "SELECT kind, received_at, due_at, answered_at FROM feedback WHERE agency_id = ?",
            (agency_id,),
        )
        return [Feedback(agency_id, **row) for row in rows]

    def _ratings(self, agency_id: str) -> list[int]:
        rows = self.store.db.execute("SELECT level FROM ratings WHERE agency_id = ?", (agency_id,))
        return [int(row["level"]) for row in rows]

    async def index_json(self, request: Request) -> Response:
        agency_id = text_param(request.query_params, "agency_id")
        return json_response({"agencies": self.indexes(agency_id)})

    async def dashboard(self, request: Request) -> Response:
        agency_id = text_param(request.query_params, "agency_id")
        html = self._dashboard.render(
            agencies=self.indexes(agency_id),
            computed_at=self.rules.clock.now().isoformat(timespec="seconds"),
        )
        return HTMLResponse(html)
