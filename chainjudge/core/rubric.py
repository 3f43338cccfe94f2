"""Rubric files: YAML in, a validated `Rubric` out, with errors that name the file and the field.

A rubric's version is the hash of its normalised content, so two files that say the same thing have the
same version and any edit that could change a verdict gives a new one (and new cache keys).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from chainjudge.core.schema import Rubric
from chainjudge.errors import ChainjudgeError


class RubricError(ChainjudgeError, ValueError):
    """A rubric file that cannot be used; the message names the file, the field and what was wrong."""


def _field_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in ("binary", "likert", "labels") and path.endswith("scale"):
            continue  # pydantic's discriminator tag adds nothing a user wrote
        else:
            path += f".{part}" if path else str(part)
    return path or "(top level)"


def parse_rubric(data: object, source: str = "<rubric>") -> Rubric:
    if not isinstance(data, dict):
        raise RubricError(f"{source}: a rubric must be a mapping with id, description and criteria")
    try:
        return Rubric.model_validate(data)
    except ValidationError as exc:
        lines = [f"{source}: invalid rubric"]
        for err in exc.errors():
            lines.append(f"  {_field_path(err['loc'])}: {err['msg']}")
        raise RubricError("\n".join(lines)) from None


def load_rubric(path: str | Path) -> Rubric:
    from chainjudge.core.yamlfile import YamlFileError, read_yaml

    path = Path(path)
    try:
        data = read_yaml(path)
    except YamlFileError as exc:
        raise RubricError(str(exc)) from None
    return parse_rubric(data, str(path))


def rubric_hash(rubric: Rubric) -> str:
    """Content hash of the rubric: its version, and part of every cache key."""
    data = rubric.model_dump(mode="json")
    if data.get("context") is None:
        data.pop("context", None)  # as for assertions below: rubrics without a budget keep their hash
    for criterion in data["criteria"]:
        if criterion.get("assertion") is None:
            criterion.pop("assertion", None)  # rubrics without assertions keep the hash they had before the field
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def rubric_json_schema() -> dict[str, Any]:
    schema = Rubric.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "chainjudge rubric"
    return schema
