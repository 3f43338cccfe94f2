"""MkDocs hook: the CLI reference page, generated from the commands themselves at build time.

Walks the Typer app's Click tree and writes each command's usage, help and options as Markdown, so the
reference can never drift from `chainjudge COMMAND --help`.  Nothing is written into docs/: the page is
added to the build as a generated file.
"""

from __future__ import annotations

from mkdocs.structure.files import File

PAGE = "reference/cli.md"


def _is_group(command) -> bool:
    return hasattr(command, "list_commands")  # Typer's Click may be its own copy: duck-typed, not isinstance


def _walk(command, path: list[str]):
    yield path, command
    if _is_group(command):
        context = command.context_class(command)
        for name in sorted(command.list_commands(context)):
            sub = command.get_command(context, name)
            if sub is not None and not getattr(sub, "hidden", False):
                yield from _walk(sub, [*path, name])


def _option_rows(command) -> list[str]:
    rows = []
    for param in command.params:
        if param.param_type_name == "option":
            names = ", ".join(f"`{n}`" for n in (*param.opts, *param.secondary_opts))
            default = "" if param.default in (None, False, ()) or callable(param.default) else f" (default: `{param.default}`)"
            rows.append(f"| {names} | {(param.help or '').replace('|', '/')}{default} |")
        elif param.param_type_name == "argument":
            rows.append(f"| `{(param.name or '').upper()}` | argument{' (required)' if param.required else ''} |")
    return rows


def markdown() -> str:
    import typer

    from chainjudge.cli import app

    root = typer.main.get_command(app)
    parts = ["# CLI reference", "", "Generated from the commands when the site is built; `chainjudge COMMAND --help` prints the same.", ""]
    for path, command in _walk(root, ["chainjudge"]):
        if len(path) == 1:
            continue
        parts += [f"{'#' * min(len(path), 4)} `{' '.join(path)}`", "", (command.help or "").strip(), ""]
        rows = _option_rows(command)
        if rows and not _is_group(command):
            parts += ["| option | what it does |", "|---|---|", *rows, ""]
    return "\n".join(parts) + "\n"


def on_files(files, config):
    files.append(File.generated(config, PAGE, content=markdown()))
    return files
