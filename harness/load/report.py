"""Write a load run's reports: `load.json`, `timeline.csv` and `load.html` (with charts).

Locust's own `locust_stats.csv` and `locust_failures.csv` are already in the folder,
written by the locust process. Text that came from the target (error messages) is bounded
when recorded and escaped here by jinja2's autoescape.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import jinja2

from harness._resources import data_dir
from harness.errors import EnvironmentProblem
from harness.load.result import LoadResult

__all__ = ["LoadReportFiles", "write_load_report"]


@dataclass(frozen=True, slots=True)
class LoadReportFiles:
    json: Path
    csv: Path
    html: Path


def _write_csv(result: LoadResult, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        fields = list(asdict(result.rows[0])) if result.rows else ["second"]
        writer.writerow(fields)
        for row in result.rows:
            writer.writerow(asdict(row).values())


def _html(result: LoadResult, template_dir: Path | None = None) -> str:
    from harness.load.charts import charts  # matplotlib is slow to import; only here

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir or data_dir("templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    template = env.get_template("load.html.j2")
    return template.render(r=result, charts=charts(result.rows, result.peak_end_s))


def write_load_report(result: LoadResult, out_dir: Path) -> LoadReportFiles:
    files = LoadReportFiles(out_dir / "load.json", out_dir / "timeline.csv", out_dir / "load.html")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        files.json.write_text(
            json.dumps(result.as_dict(), indent=2, ensure_ascii=False), encoding="utf-8"
        )
        _write_csv(result, files.csv)
        files.html.write_text(_html(result), encoding="utf-8")
    except (OSError, jinja2.TemplateError) as exc:
        raise EnvironmentProblem(f"the load report could not be written: {exc}") from None
    return files
