"""Static HTML reports of a run: provenance, accuracy, signal statistics, figures, gallery."""

from vrprobe.report.html import write_report

__all__ = ["write_report"]
