"""The import graph keeps its shape: core under the stages, stages in data order, wiring on top, no cycles.

Every ``import`` in the package is read with ``ast``, function-level ones included (a lazy
import is still a dependency). Layers, bottom to top:

- ``rasad.core``: records, settings, Elasticsearch helpers, YAML lines; imports no stage and no wiring;
- the stages in the data's order: ``rasad.ingest`` < ``rasad.enrich`` < ``rasad.indexing`` <
  ``rasad.alerts``; a stage may import core and earlier stages, never a later stage or the wiring;
- the wiring: the rest of ``rasad`` (pipeline, cli, demo, local services, the Airflow trigger).
"""

# codemod: skip (the self-test below writes old-layout imports on purpose)
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
# Installed package -> folder in the repo (pyproject.toml [tool.setuptools.package-dir]).
PACKAGE_DIRS = {"rasad": "rasad", "rasad.ingest": "ingest", "rasad.enrich": "enrich",
                "rasad.indexing": "indexing", "rasad.alerts": "alerts"}  # fmt: skip
STAGES = ("rasad.ingest", "rasad.enrich", "rasad.indexing", "rasad.alerts")  # the data's order
OLD_TOP_LEVEL = {"ingest", "enrich", "indexing", "alerts"}  # would load a second copy of a stage
OTHER_CODE = ("dags", "tests", "bench", "scripts", "docker")


def module_files(root: Path, package_dirs: dict[str, str]) -> dict[str, Path]:
    """Installed module name -> source file, for every module of the distribution."""
    out: dict[str, Path] = {}
    for pkg, folder in package_dirs.items():
        base = root / folder
        for f in sorted(base.rglob("*.py")):
            rel = f.relative_to(base).with_suffix("").parts
            name = ".".join((pkg, *rel))
            out[name.removesuffix(".__init__")] = f
    return out


def imported_names(path: Path, module: str) -> list[tuple[str, int]]:
    """Every module name ``path`` imports (anywhere in the file), with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_pkg = path.name == "__init__.py"
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                parts = module.split(".") if is_pkg else module.split(".")[:-1]
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            out.append((base, node.lineno))
            out += [(f"{base}.{a.name}", node.lineno) for a in node.names if a.name != "*"]
    return out


def build_graph(root: Path, package_dirs: dict[str, str]) -> tuple[dict[str, dict[str, int]], dict[str, Path]]:
    """Module -> {imported module of ours: line}; only names that are modules of the distribution."""
    files = module_files(root, package_dirs)
    graph: dict[str, dict[str, int]] = {}
    for mod, f in files.items():
        edges: dict[str, int] = {}
        for name, line in imported_names(f, mod):
            if name in files and name != mod and not mod.startswith(name + "."):
                edges.setdefault(name, line)  # importing a parent package is not a dependency on it
        graph[mod] = edges
    return graph, files


def layer(mod: str) -> tuple[str, int]:
    """("core", -1), ("stage", i) in data order, or ("wiring", 99)."""
    if mod == "rasad.core" or mod.startswith("rasad.core."):
        return "core", -1
    for i, st in enumerate(STAGES):
        if mod == st or mod.startswith(st + "."):
            return "stage", i
    if mod == "rasad":
        return "root", -2
    return "wiring", 99


def layer_violations(graph: dict[str, dict[str, int]], files: dict[str, Path]) -> list[str]:
    """Each import that goes up the layers, as 'file:line: a imports b (why)'."""
    bad = []
    for mod, edges in sorted(graph.items()):
        kind, rank = layer(mod)
        for dep, line in sorted(edges.items()):
            dkind, drank = layer(dep)
            where = f"{files[mod].relative_to(PROJECT) if files[mod].is_relative_to(PROJECT) else files[mod]}:{line}"
            if kind == "root":
                bad.append(f"{where}: rasad/__init__.py imports {dep} (it must import nothing)")
            elif kind == "core" and dkind != "core":
                bad.append(f"{where}: core {mod} imports {dkind} {dep}")
            elif kind == "stage" and dkind == "wiring":
                bad.append(f"{where}: stage {mod} imports the wiring {dep}")
            elif kind == "stage" and dkind == "stage" and drank > rank:
                bad.append(f"{where}: stage {mod} imports a later stage {dep}")
    return bad


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def old_name_imports(root: Path, folders: tuple[str, ...]) -> list[str]:
    """Imports of the bare stage names (``import ingest``) anywhere in the repo's Python."""
    bad = []
    for folder in folders:
        for f in sorted((root / folder).rglob("*.py")) if (root / folder).is_dir() else []:
            if "resources" in f.relative_to(root).parts:
                continue
            for name, line in imported_names(f, "tests.x"):
                if name.split(".")[0] in OLD_TOP_LEVEL:
                    bad.append(f"{f.relative_to(root)}:{line}: imports {name} (use rasad.{name})")
    return bad


@pytest.fixture(scope="module")
def graph():
    return build_graph(PROJECT, PACKAGE_DIRS)


def test_every_stage_and_the_core_are_found(graph):
    g, _ = graph
    for pkg in (*STAGES, "rasad.core", "rasad.pipeline", "rasad.cli", "rasad.ingest.feeds"):
        assert pkg in g, pkg
    assert len(g) > 60


def test_core_stages_and_wiring_keep_their_layers(graph):
    bad = layer_violations(*graph)
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def test_no_import_cycles_between_modules(graph):
    found = cycles(graph[0])
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_rasad_init_imports_nothing():
    tree = ast.parse((PROJECT / "rasad" / "__init__.py").read_text(encoding="utf-8"))
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]


def test_nothing_imports_the_stages_by_their_bare_folder_names():
    bad = old_name_imports(PROJECT, ("rasad", *PACKAGE_DIRS.values(), *OTHER_CODE))
    assert not bad, "\n".join(bad)


def test_the_checks_catch_violations(tmp_path):
    """A tree with every kind of violation: each is reported (so the checks above can fail)."""
    for folder, files in {
        "rasad": {"__init__.py": "", "cli.py": "from rasad import demo_run\n",
                  "demo_run.py": "def f():\n    from rasad.cli import main\n"},
        "rasad/core": {"__init__.py": "", "settings.py": "def f():\n    import rasad.ingest.feeds\n"},
        "ingest": {"__init__.py": "", "feeds.py": "from rasad.alerts.rules import x\nfrom rasad import pipeline\n"},
        "alerts": {"__init__.py": "", "rules.py": "from . import match\n", "match.py": "from .rules import x\n"},
        "tests": {"t.py": "import ingest.feeds\n"},
    }.items():
        (tmp_path / folder).mkdir(parents=True)
        for name, text in files.items():
            (tmp_path / folder / name).write_text(text)
    (tmp_path / "rasad" / "pipeline.py").write_text("")
    dirs = {"rasad": "rasad", "rasad.ingest": "ingest", "rasad.alerts": "alerts"}
    g, files = build_graph(tmp_path, dirs)
    bad = "\n".join(layer_violations(g, files))
    assert "core rasad.core.settings imports stage rasad.ingest.feeds" in bad
    assert "stage rasad.ingest.feeds imports a later stage rasad.alerts.rules" in bad
    assert "stage rasad.ingest.feeds imports the wiring rasad.pipeline" in bad
    assert cycles(g) == [["rasad.alerts.match", "rasad.alerts.rules"], ["rasad.cli", "rasad.demo_run"]]
    assert old_name_imports(tmp_path, ("tests",)) == ["tests/t.py:1: imports ingest.feeds (use rasad.ingest.feeds)"]
