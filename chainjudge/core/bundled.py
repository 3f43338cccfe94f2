"""Files that ship with chainjudge: the rubrics and CEP pack files (`rubrics/`), the demo's traces
(`traces/`).  The review app is a module of the package (`chainjudge/ui/`).

The repository keeps them in those top-level folders, where people read and edit them; the wheel copies
them into the package as `chainjudge/_bundled/` at build time (hatchling's force-include), so an
installed chainjudge works from any folder.  This is the one place that knows both layouts: in a wheel
they are found with importlib.resources; in a source checkout (an editable install) they are the
top-level folders beside the package.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def bundled(*parts: str) -> Path:
    """Path of a bundled file, e.g. bundled("rubrics", "step-quality.yaml")."""
    package = resources.files("chainjudge")
    installed = package / "_bundled"
    root = Path(str(installed)) if installed.is_dir() else Path(str(package)).parent
    return root.joinpath(*parts)
