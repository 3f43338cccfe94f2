"""A command whose options are one typed request: the fields of a frozen dataclass, each annotated with its
Typer option, become the command's options, and the command function receives the filled-in dataclass.

Why: a command with twenty options used to be a twenty-parameter function, its option list longer than
what it does; its workflow then took the same values again as a request.  Declared once as a dataclass,
the options are the request the command parses into (`--help` and the generated CLI reference read the
same annotations), and the function is only what the command does with it."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any, TypeVar

Options = TypeVar("Options")


def from_options(options: type[Options]) -> Callable[[Callable[[Options], None]], Callable[..., None]]:
    """Decorate a command taking one OPTIONS instance (a dataclass whose fields are annotated
    `Annotated[type, typer.Option(...)]` or `typer.Argument(...)`, in the order `--help` lists them); apply
    it under `@app.command()`."""
    if not dataclasses.is_dataclass(options):
        raise TypeError(f"{options.__name__} is not a dataclass")
    hints = typing.get_type_hints(options, include_extras=True)
    parameters = [
        inspect.Parameter(
            field.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=inspect.Parameter.empty if field.default is dataclasses.MISSING else field.default,
            annotation=hints[field.name],
        )
        for field in dataclasses.fields(options)
        if field.init
    ]

    def wrap(handler: Callable[[Options], None]) -> Callable[..., None]:
        @functools.wraps(handler)
        def command(**values: Any) -> None:
            handler(options(**values))

        command.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
        del command.__wrapped__  # type: ignore[attr-defined]  # Typer reads the options, not the handler
        return command

    return wrap
