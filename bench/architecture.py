"""The house in numbers, for a checkout: what issue #30 asks to measure before and after.

Modules and lines per layer, functions over 40 lines (outside tests), the ten most complex functions
(McCabe's count from the syntax tree: 1 + branches), imports inside functions, import cycles between
chainjudge modules (strongly connected components of the import graph), CLI modules over 150 lines, and
upward imports against tests/test_layers.py's map.

    .venv/bin/python bench/architecture.py [CHECKOUT]      # default: this repository
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

BRANCHES = (
    ast.If,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.ExceptHandler,
    ast.IfExp,
    ast.With,
    ast.AsyncWith,
    ast.Assert,
    ast.comprehension,
    ast.match_case,
)


def complexity(node: ast.AST) -> int:
    count = 1
    for child in ast.walk(node):
        if isinstance(child, BRANCHES):
            count += 1
        elif isinstance(child, ast.BoolOp):
            count += len(child.values) - 1
    return count


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def startup_seconds(root: Path, runs: int = 5) -> float:
    """Wall time of `python -m chainjudge.cli --help` from this checkout (what every command pays first)."""
    import statistics
    import subprocess
    import time

    times = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "chainjudge.cli", "--help"],
            capture_output=True,
            cwd=root,
            env={**__import__("os").environ, "PYTHONPATH": str(root)},
        )
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of the body, without the signature and the docstring: a command's signature is its option
    declarations (one per parameter after `ruff format`), which the whole-function count includes."""
    statements = node.body
    if statements and isinstance(statements[0], ast.Expr) and isinstance(getattr(statements[0], "value", None), ast.Constant):
        statements = statements[1:]
    if not statements:
        return 0
    return (node.end_lineno or node.lineno) - statements[0].lineno + 1


def main() -> None:
    root = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
    package = root / "chainjudge"
    layers: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    long_functions, long_bodies, complex_functions, inner_imports = [], [], [], 0
    graph: dict[str, set[str]] = defaultdict(set)
    cli_over = []
    for path in sorted(package.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        relative = path.relative_to(package)
        layer = relative.parts[0] if len(relative.parts) > 1 else relative.stem
        layers[layer][0] += 1
        layers[layer][1] += len(text.splitlines())
        command_module = layer == "cli" or ("commands" in relative.parts and "import typer" in text)  # a pack's commands too
        if command_module and len(text.splitlines()) > 150:
            cli_over.append(f"{relative} ({len(text.splitlines())})")
        name = module_name(root, path)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 40:
                    long_functions.append((length, f"{relative}:{node.name}"))
                body = body_lines(node)
                if body > 40:
                    long_bodies.append((body, f"{relative}:{node.name}"))
                complex_functions.append((complexity(node), f"{relative}:{node.name}"))
                inner_imports += sum(isinstance(n, (ast.Import, ast.ImportFrom)) for n in ast.walk(node))
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("chainjudge"):
                graph[name].add(node.module)
            elif isinstance(node, ast.Import):
                graph[name].update(a.name for a in node.names if a.name.startswith("chainjudge"))
    print(f"checkout: {root}")
    print("modules and lines per layer: " + ", ".join(f"{k} {m}/{lines}" for k, (m, lines) in sorted(layers.items())))
    print(
        f"functions over 40 lines: {len(long_functions)}; longest: "
        + ", ".join(f"{n} ({length})" for length, n in sorted(long_functions, reverse=True)[:5])
    )
    print(
        f"function bodies over 40 lines (signature and docstring left out): {len(long_bodies)}: "
        + ", ".join(f"{n} ({length})" for length, n in sorted(long_bodies, reverse=True))
    )
    print("complexity, top 10: " + ", ".join(f"{n} {c}" for c, n in sorted(complex_functions, reverse=True)[:10]))
    print(f"imports inside functions: {inner_imports}")
    print(f"`chainjudge --help` start-up, median of 5: {startup_seconds(root):.2f} s")
    found = cycles(dict(graph))
    print(f"import cycles: {len(found)}" + ("" if not found else ": " + "; ".join(" <-> ".join(c) for c in found[:5])))
    print(f"CLI modules over 150 lines: {len(cli_over)}" + ("" if not cli_over else ": " + ", ".join(cli_over)))


if __name__ == "__main__":
    main()
