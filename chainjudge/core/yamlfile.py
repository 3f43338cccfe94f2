"""YAML files people write (rubrics, gate policies, mappings, scenario spaces, catalogues), read once here.

Whatever is wrong with a file becomes one line naming the file and, where YAML knows it, the line and
column: not UTF-8, not YAML, nested too deeply for the parser, larger than any such file should be, or a
field the model refuses.  Never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from chainjudge.errors import ChainjudgeError

MAX_YAML_BYTES = 20 * 1024 * 1024  # a rubric or policy is kilobytes; a catalogue of thousands of modes a few MB
Model = TypeVar("Model", bound=BaseModel)


class YamlFileError(ChainjudgeError, ValueError):
    """A YAML file chainjudge cannot use; the message names the file."""


def parse_yaml(text: str, source: str) -> object:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or exc
        raise YamlFileError(f"{source}: not valid YAML{where}: {' '.join(str(problem).split())}") from None
    except RecursionError:
        raise YamlFileError(f"{source}: YAML nested too deeply to read") from None


def read_yaml(path: str | Path) -> object:
    path = Path(path)
    try:
        if path.stat().st_size > MAX_YAML_BYTES:
            raise YamlFileError(f"{path}: {path.stat().st_size:,} bytes; larger than any such file should be ({MAX_YAML_BYTES:,})")
        raw = path.read_bytes()
    except OSError as exc:
        raise YamlFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise YamlFileError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    return parse_yaml(text, str(path))


def describe_validation(exc: ValidationError, limit: int = 3) -> str:
    parts = []
    for error in exc.errors()[:limit]:
        where = ".".join(str(p) for p in error["loc"]) or "(top)"
        parts.append(f"{where}: {error['msg']}")
    more = len(exc.errors()) - limit
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def load_model(path: str | Path, model: type[Model], empty_ok: bool = True) -> Model:
    """PATH's YAML as MODEL; an empty file is the model's defaults when empty_ok."""
    data = read_yaml(path)
    if data is None and empty_ok:
        data = {}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise YamlFileError(f"{path}: {describe_validation(exc)}") from None
