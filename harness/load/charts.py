"""Charts of a load run as PNG data URIs: matplotlib with the Agg backend, numbers only."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from harness.load.verdict import Row

__all__ = ["charts"]


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _peak_line(axes: Axes, peak_end_s: float) -> None:
    axes.axvline(peak_end_s, color="grey", linestyle=":", label="end of peak")


def _throughput(rows: Sequence[Row], peak_end_s: float) -> str:
    figure, axes = plt.subplots(figsize=(8, 3))
    seconds = [r.second for r in rows]
    axes.plot(seconds, [r.offered for r in rows], label="offered", color="#999", linestyle="--")
    axes.plot(seconds, [r.succeeded for r in rows], label="succeeded", color="#1f77b4")
    axes.plot(seconds, [r.failed for r in rows], label="failed", color="#d62728")
    _peak_line(axes, peak_end_s)
    axes.set(xlabel="run second", ylabel="requests / s", title="Throughput: offered vs achieved")
    axes.legend(loc="upper left", fontsize="small")
    return _png(figure)


def _latency(rows: Sequence[Row], peak_end_s: float) -> str:
    figure, axes = plt.subplots(figsize=(8, 3))
    seconds = [r.second for r in rows]
    for name, values in (
        ("p50", [r.p50_ms for r in rows]),
        ("p95", [r.p95_ms for r in rows]),
        ("p99", [r.p99_ms for r in rows]),
    ):
        axes.plot(seconds, [float("nan") if v is None else v for v in values], label=name)
    _peak_line(axes, peak_end_s)
    axes.set(xlabel="run second", ylabel="ms", title="Latency percentiles per second")
    axes.legend(loc="upper left", fontsize="small")
    return _png(figure)


def _backlog(rows: Sequence[Row], peak_end_s: float) -> str:
    figure, axes = plt.subplots(figsize=(8, 2.5))
    axes.fill_between([r.second for r in rows], [r.backlog for r in rows], color="#ff7f0e")
    _peak_line(axes, peak_end_s)
    axes.set(xlabel="run second", ylabel="requests", title="Backlog (offered − answered)")
    return _png(figure)


def charts(rows: Sequence[Row], peak_end_s: float) -> dict[str, str]:
    if not rows:
        return {}
    return {
        "throughput": _throughput(rows, peak_end_s),
        "latency": _latency(rows, peak_end_s),
        "backlog": _backlog(rows, peak_end_s),
    }
