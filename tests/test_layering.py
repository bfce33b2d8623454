"""The layers, by structure: the reading side (report, bench summary, exports) never
imports torch, the method never imports the reading side, and no elad modules import
each other in a cycle. Imports are read with `ast`; the torch check imports each module
in a fresh interpreter."""

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "elad"

# Above both the method and the reading side: they make runs and then read them.
# The package itself (`import elad`: the Python API, elad/__init__.py) stands there too.
ORCHESTRATION = {"elad", "elad.cli", "elad.bench"}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(name: str, module_level_only: bool = False) -> set[str]:
    """The elad modules `name` imports (each `from a.b import c` is a.b.c when that is a
    module, else a.b), at module level or anywhere."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(), str(path))
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {m for m in found if m in MODULES and m != name}


def reading_modules() -> list[str]:
    return [m for m in MODULES if m == "elad.reading" or m.startswith("elad.reading.")]


def test_the_reading_side_never_imports_torch():
    """Every reading module, the CLI (whose report path is the reading side's) and the
    bench's naming, imported one after another in a fresh interpreter; the first that
    brings torch in is named."""
    modules = [*reading_modules(), "elad.cli", "elad.bench_names"]
    code = ("import importlib, sys\n"
            f"for name in {modules!r}:\n"
            "    importlib.import_module(name)\n"
            "    assert 'torch' not in sys.modules, f'{name} imports torch'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr.strip().splitlines()[-1]


def test_elad_report_runs_without_torch(tmp_path):
    """The whole `elad report` path: the CLI's report command on a stored run."""
    from test_report import write_run

    write_run(tmp_path / "run")
    code = ("import sys; from elad.cli import main; "
            f"assert main(['-q', 'report', {str(tmp_path / 'run')!r}, '--format', 'json']) "
            "== 0; assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_the_method_never_imports_the_reading_side():
    reading = set(reading_modules())
    method = [m for m in MODULES if m not in reading and m not in ORCHESTRATION]
    offenders = {m: sorted(imports(m) & reading) for m in method}
    assert {m: found for m, found in offenders.items() if found} == {}


def test_no_import_cycles():
    """Module-level and function-level imports both count: a lazy import is still a
    dependency."""
    # `from elad import coverage` runs elad/__init__.py first, but the package's API
    # imports what it calls inside the call: the root is the top, not a dependency
    graph = {m: imports(m) - {"elad"} for m in MODULES}
    cycles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycles.append(path[path.index(n):] + [n])
            elif n not in state:
                visit(n, [*path, n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert cycles == []


def test_a_package_import_is_read_as_its_modules():
    """The parser this file relies on: `from elad.reading import curves` is the module,
    `from elad.tasks import hidden_answer` the package."""
    assert "elad.reading.curves" in imports("elad.reading.bench_numbers")
    assert "elad.tasks" in imports("elad.reading.diagnostics")
    assert "elad.loop" not in imports("elad.cli", module_level_only=True)
    assert "elad.loop" in imports("elad.cli")


def parameter_count(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """A function's parameters, `self` and `cls` not counted."""
    args = node.args
    names = [a.arg for a in (*args.posonlyargs, *args.args)]
    count = len(names) + len(args.kwonlyargs) + bool(args.vararg) + bool(args.kwarg)
    return count - (names[:1] in (["self"], ["cls"]))


def test_no_module_over_400_lines_and_no_function_over_6_parameters():
    """Small modules and short signatures (a function that needs more takes a dataclass)."""
    long = {name: n for name, path in MODULES.items()
            if (n := len(path.read_text().splitlines())) > 400}
    assert long == {}
    wide = [f"{name}.{node.name} ({parameter_count(node)})"
            for name, path in MODULES.items()
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and parameter_count(node) > 6]
    assert wide == []
