"""Imports between a package's modules go one way (no cycle, not even one hidden in a function), and some
packages never import others.

Each module's source is parsed with ``ast``; imports at module level and inside functions count, those
under ``if TYPE_CHECKING:`` do not (they never run). To check another package, add it to ``PACKAGES``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# package -> top-level packages it must never import (at any level, type-only imports included)
PACKAGES: dict[str, set[str]] = {
    "channels": {"mtgc_link"},
    "mtgc_link": set(),  # may import channels; acyclic within itself
}


def _modules(package: str) -> dict[str, Path]:
    """Dotted module name -> source file, for every module of ``package`` (the package itself included)."""
    base = ROOT / package
    out = {}
    for path in sorted(base.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, path: Path) -> list[tuple[str, bool, int]]:
    """(imported module, type_only, line) of every import in ``path``, resolved to absolute names.

    ``from a.b import c`` yields ``a.b.c`` (which the caller reduces to ``a.b`` where ``c`` is not a module).
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    found: list[tuple[str, bool, int]] = []

    def visit(node: ast.AST, type_only: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, type_only)
            return
        if isinstance(node, ast.Import):
            found.extend((alias.name, type_only, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the module's own package
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.extend((f"{base}.{alias.name}", type_only, node.lineno) for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child, type_only)

    visit(tree, False)
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The module of ``modules`` that importing ``name`` runs (the longest dotted prefix), else None."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in modules:
            return candidate
    return None


def _runtime_graph(package: str) -> dict[str, dict[str, int]]:
    """module -> {imported module of the same package: line}, runtime imports only (functions included)."""
    modules = _modules(package)
    graph: dict[str, dict[str, int]] = {m: {} for m in modules}
    for module, path in modules.items():
        for name, type_only, line in _imports(module, path):
            target = _resolve(name, modules)
            if not type_only and target is not None and target != module:
                graph[module].setdefault(target, line)
    return graph


def _find_cycle(graph: dict[str, dict[str, int]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := dfs(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := dfs(node)):
            return cycle
    return None


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_imports_within_package_are_acyclic(package):
    graph = _runtime_graph(package)
    cycle = _find_cycle(graph)
    if cycle:
        steps = [f"{a} (line {graph[a][b]}) -> {b}" for a, b in zip(cycle, cycle[1:], strict=False)]
        pytest.fail(f"import cycle in {package}: " + "; ".join(steps))


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_package_never_imports_forbidden_packages(package):
    bad = [
        f"{module} line {line}: {name}"
        for module, path in _modules(package).items()
        for name, _, line in _imports(module, path)
        if name.split(".")[0] in PACKAGES[package]
    ]
    assert not bad, f"{package} must not import {sorted(PACKAGES[package])}: {bad}"


def test_the_checker_sees_function_level_and_skips_type_only_imports():
    graph = _runtime_graph("channels")
    assert "channels.config" in graph["channels.link"]  # module level
    assert "channels.link" in graph["channels.sim"]  # inside NRChain.__init__
    assert "channels.config" in graph["channels"]  # `from channels import config` inside __getattr__
    assert "channels.config" not in graph["channels.models"]  # only under TYPE_CHECKING
    assert _find_cycle({"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}}) == ["a", "b", "c", "a"]


def test_importing_channels_loads_neither_torch_nor_sionna():
    """``import channels`` and its modules stay light; torch and Sionna load where a link is built or run."""
    names = sorted(_modules("channels"))
    code = (
        f"import sys\nfor m in {names!r}: __import__(m)\n"
        "print(sorted(m for m in ('torch', 'sionna', 'mtgc_link') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_channel_model_registry_loads_without_numpy_or_pydantic():
    """The CLI reads ``channels.models.CHANNEL_MODELS`` and ``channels.sim.SIM_CHANNELS`` for its help text
    at startup; that must not cost numpy or pydantic."""
    code = (
        "import sys, channels.models, channels.sim\n"
        "print(sorted(m for m in ('numpy', 'pydantic', 'torch', 'sionna') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_sweep_layers_point_one_way():
    """Runner -> executors -> task -> link/store/grid; the plots read the store and the axes only, and only
    the runner's optional ``run_sweep(plots=True)`` and the CLI reach the plots."""
    graph = _runtime_graph("mtgc_link")
    sweep = {m for m in graph if m.startswith("mtgc_link.sweep")}
    assert {m for m in graph["mtgc_link.plots"] if m in sweep} <= {
        "mtgc_link.sweep",
        "mtgc_link.sweep.axes",
        "mtgc_link.sweep.store",
    }
    importers_of_runner = {m for m, deps in graph.items() if "mtgc_link.sweep.runner" in deps}
    assert importers_of_runner <= {"mtgc_link.cli.sweep", "mtgc_link.sweep.demo"} | {"mtgc_link.sweep"}
    importers_of_plots = {m for m, deps in graph.items() if "mtgc_link.plots" in deps}
    assert importers_of_plots <= {"mtgc_link.cli.sweep", "mtgc_link.sweep.runner"}
    assert "mtgc_link.sweep.task" in graph["mtgc_link.sweep.executors"]
    upper = {"mtgc_link.sweep.runner", "mtgc_link.sweep.executors", "mtgc_link.plots"}
    for low in ("mtgc_link.sweep.task", "mtgc_link.sweep.grid", "mtgc_link.sweep.store", "mtgc_link.link"):
        assert not upper & set(graph[low]), low


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


# plug-in package -> what it must never import (at any level, type-only imports included)
PLUGIN_PACKAGES: dict[str, tuple[str, ...]] = {
    "mtgc_link.codecs": ("channels", "mtgc_link.link", "mtgc_link.sweep", "mtgc_link.plots", "mtgc_link.cli"),
    "mtgc_link.metrics": (
        "channels",
        "mtgc_link.codecs",
        "mtgc_link.link",
        "mtgc_link.sweep",
        "mtgc_link.plots",
        "mtgc_link.cli",
    ),
}


@pytest.mark.parametrize("package", sorted(PLUGIN_PACKAGES))
def test_codec_and_metric_packages_point_one_way(package):
    """Codecs (the ``mtgc`` sub-package included) and metrics: no import cycle among their modules, none
    hidden in a function either; codecs never reach the PHY or the layers above them (link, sweep, plots,
    CLI), metrics know neither codecs nor the PHY."""
    graph = _runtime_graph("mtgc_link")
    sub = {
        m: {d: line for d, line in deps.items() if _under(d, (package,))}
        for m, deps in graph.items()
        if _under(m, (package,))
    }
    assert len(sub) > 3, sorted(sub)
    cycle = _find_cycle(sub)
    if cycle:
        steps = [f"{a} (line {sub[a][b]}) -> {b}" for a, b in zip(cycle, cycle[1:], strict=False)]
        pytest.fail(f"import cycle in {package}: " + "; ".join(steps))
    modules = _modules("mtgc_link")
    bad = [
        f"{module} line {line}: {name}"
        for module, path in modules.items()
        if _under(module, (package,))
        for name, _, line in _imports(module, path)
        if _under(name, PLUGIN_PACKAGES[package])
    ]
    assert not bad, f"{package} must not import {PLUGIN_PACKAGES[package]}: {bad}"


def test_mtgc_models_import_the_decoder_and_not_back():
    """``profiles`` (MTGCModels) imports ``mgdd`` and forwards ``generate`` to it; ``mgdd`` names MTGCModels
    for type checkers only, and the SPW path converts images with ``mtgc_link.images`` (no diffusers)."""
    graph = _runtime_graph("mtgc_link")
    profiles, mgdd = "mtgc_link.codecs.mtgc.profiles", "mtgc_link.codecs.mtgc.mgdd"
    assert mgdd in graph[profiles] and profiles not in graph[mgdd]
    assert "mtgc_link.images" in graph[profiles] and "mtgc_link.images" in graph[mgdd]
