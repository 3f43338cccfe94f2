"""The CEP pack's own files, shipped inside the pack (so inside the wheel): its rubrics, contact policy,
scenario spaces and gate policy (`rubrics/`), and the demo's recorded traces and scenarios (`traces/`)."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def pack_file(*parts: str) -> Path:
    """A file of the pack, e.g. pack_file("rubrics", "policy.yaml")."""
    return HERE.joinpath(*parts)
