"""Reports built from a run's output folder: ``report.json``, ``junit.xml``, ``report.html``."""

from __future__ import annotations

from harness.reporting.writers import ReportError, ReportFiles, write_reports

__all__ = ["ReportError", "ReportFiles", "write_reports"]
