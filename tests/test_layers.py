"""The folder layout is the architecture: each layer imports only the layers below it.

errors (the one error base) <- core (schema, store, judges, engine) <- analysis (pure) and reading (adapters, the OTLP
receiver) <- pipeline <- workflows (what gathers evidence and runs judges for the analysis), review <- packs <- the edges
(cli/, the review app ui/); scale (executors over Ray) sits on core alone.  A pack's own edge (its commands under
`packs/NAME/commands/` and its review tabs, `packs/NAME/review_tab.py`) may also use the CLI's shared helpers (and
`from_options`: options as one dataclass), the review queue and the workflows; the generic CLI and app import no pack
at all (hooks bring the pack's commands and tabs in).  The test reads every module's imports with ast, so a new upward
import fails here rather than in a reader's head."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "chainjudge"
ALLOWED = {
    "errors": set(),  # the one error base, below everything: every layer may raise it
    "core": {"errors", "core"},
    "reading": {"errors", "core", "reading"},
    "pipeline": {"errors", "core", "reading"},
    "analysis": {"errors", "core", "analysis"},  # pure: see test_analysis_is_pure
    "review": {"errors", "core", "review"},
    "workflows": {"errors", "core", "reading", "pipeline", "analysis", "scale", "workflows"},
    "packs": {"errors", "core", "reading", "pipeline", "analysis", "packs"},
    "testing": {"errors", "core", "testing"},
    "export": {"errors", "core", "export"},
    "scale": {"errors", "core", "scale"},
}
EDGES = {"cli", "ui"}  # may import anything but a pack
PACK_EDGE = {"errors", "core", "reading", "pipeline", "analysis", "workflows", "review", "packs", "cli.support", "cli.options_command"}


def imports_of(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
    return [n for n in names if n.startswith("chainjudge.")]


def layer(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def test_every_module_belongs_to_a_known_layer():
    unknown = {layer(p) for p in PACKAGE.rglob("*.py")} - set(ALLOWED) - EDGES - {"__init__"}
    assert unknown == set(), f"modules outside the layers: {unknown}"


def is_pack_edge(path: Path) -> bool:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] == "packs" and len(parts) >= 3 and (parts[2] == "commands" or parts[2] == "review_tab.py")


def test_no_layer_imports_a_layer_above_it():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        own = layer(path)
        if own in EDGES or own == "__init__":
            continue
        allowed = PACK_EDGE if is_pack_edge(path) else ALLOWED[own]
        for name in imports_of(path):
            target = name.split(".")[1]
            if target not in allowed and ".".join(name.split(".")[1:3]) not in allowed:
                offenders.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert offenders == []


def test_the_generic_cli_and_review_app_import_no_pack():
    """Pack commands and review tabs arrive through the pack's hooks (`register_commands`, `review_tabs`), so
    the CLI and the app work the same with the CEP pack, a third party's pack, or none."""
    offenders = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for edge in EDGES
        for path in (PACKAGE / edge).rglob("*.py")
        for name in imports_of(path)
        if name.startswith("chainjudge.packs")
    ]
    assert offenders == []


# what analysis may use of core: the schema and pure helpers (parsing text it is given, planning work items);
# never the store, a judge, the engine's execution, a file, the network
PURE_CORE = {
    "chainjudge.core.schema",
    "chainjudge.core.yamlfile",
    "chainjudge.core.rubric",
    "chainjudge.core.decision_threshold",
    "chainjudge.core.engine",
}
FILE_CALLS = {"open", "read_text", "write_text", "read_bytes", "write_bytes", "mkdir", "unlink"}


def test_analysis_is_pure():
    """analysis/ is functions over results already gathered: it opens no store, calls no judge and touches no
    file (the store, judges and files are workflows/ and the edges).  `engine` is allowed for `plan` only."""
    offenders = []
    for path in (PACKAGE / "analysis").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("chainjudge.core"):
                if not any(node.module == m or node.module.startswith(m + ".") for m in PURE_CORE):
                    offenders.append(f"{path.name} imports {node.module}")
                if node.module == "chainjudge.core.engine" and {a.name for a in node.names} - {"plan"}:
                    offenders.append(f"{path.name} imports {[a.name for a in node.names]} from the engine")
            if isinstance(node, ast.Call):
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
                if name in FILE_CALLS:
                    offenders.append(f"{path.name}:{node.lineno} calls {name}()")
    assert offenders == []


# CEP lives in its pack, commands and review tab included
CEP_EDGES = {"packs"}


def test_no_cep_file_is_a_default_in_generic_code():
    """Generic commands get a pack's files (scenario space, gate policy) by asking the installed packs
    (`plugins.default_file`), never by naming the CEP pack's files."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.split("/")[0] in CEP_EDGES or relative in CEP_EDGES:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value == "cep":
                offenders.append(f"{relative}:{node.lineno}")
    assert offenders == []


# inside core: the schema at the bottom (with scrub), the store on the schema alone, the judges beside the
# store (never on it), the engine above the prompts; a part not listed may use any part below `engine`
CORE_ALLOWED = {
    "schema": {"scrub"},
    "scrub": set(),
    "store": {"schema"},
    "judges": {"schema", "scrub", "limiter", "decision_threshold"},
    "engine": {"schema", "fencing", "injection", "limiter", "prompts", "rubric"},
    "progress": {"engine"},
}
CORE_TOP = {"engine", "progress"}  # what only these may import


def test_inside_core_each_part_imports_only_the_parts_below_it():
    offenders = []
    core = PACKAGE / "core"
    for path in core.rglob("*.py"):
        relative = path.relative_to(core)
        part = relative.parts[0] if len(relative.parts) > 1 else relative.stem
        for name in imports_of(path):
            if not name.startswith("chainjudge.core."):
                continue
            target = name.split(".")[2]
            if target == part:
                continue
            allowed = CORE_ALLOWED.get(part)
            if (allowed is not None and target not in allowed) or (allowed is None and target in CORE_TOP | {"store", "judges"}):
                offenders.append(f"core/{relative} imports {name}")
    assert offenders == []
