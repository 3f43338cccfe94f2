"""Writing the go-live report's three files (HTML, Markdown, JSON), each atomically; rendering them is
`analysis/report.py` (pure)."""

from __future__ import annotations

import json
from pathlib import Path

from chainjudge.analysis.report import to_html, to_json, to_markdown
from chainjudge.core.atomic import write_text_atomic
from chainjudge.core.schema import Evidence


def write_report(evidence: Evidence, directory: Path, reasons: list[str] | None = None) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / "report.html", directory / "summary.md", directory / "report.json"]
    write_text_atomic(paths[0], to_html(evidence, reasons))
    write_text_atomic(paths[1], to_markdown(evidence, reasons))
    write_text_atomic(paths[2], json.dumps(to_json(evidence), indent=2, default=str))
    return paths
