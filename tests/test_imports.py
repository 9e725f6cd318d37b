"""The import graph of ``src/llmsize``: no cycles, and packages import only downward.

Every import of an llmsize module counts, at module level and inside functions (a lazy import
still ties the two modules together); only ``if TYPE_CHECKING:`` blocks are skipped, since they
never run. Relative imports are resolved; ``from pkg import name`` counts as an import of the
submodule ``pkg.name`` when there is one, else of ``pkg``.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# Layers, lowest first: a module may import from its own layer or any layer below it. The data
# flows top to bottom as in STYLE.md's picture, adapted to what the code needs:
# - errorbars.py sits at the bottom: it is data (the validation results) that every estimate
#   attaches to its terms, and imports nothing from llmsize.
# - parameters and seed come before sources: the GGUF reader checks the metadata it read against
#   the parameter count (sources/gguf_arch.py), and nothing in parameters reads a file.
# - sources come before formats: formats/stored.py reads the checkpoint headers sources parse.
# - measure sits above training: it puts a measured step beside the estimate (measure/compare.py).
# - schemas sits at the bottom: every result's to_dict() stamps its schema_version, and it
#   imports only errors.
# A new top-level module fails test_packages_import_only_downward until it is placed here.
LAYERS: list[tuple[str, ...]] = [
    # options: argument types shared by the CLI and the API (the specs check their values with
    # them); invert: the exact integer search behind every cost model's inversions; limits: the
    # plausibility limits every check shares
    ("units", "errors", "limits", "enums", "tree", "errorbars", "schemas", "options", "version", "invert"),
    ("arch",),
    ("parameters", "seed"),
    ("sources", "catalog"),
    ("formats",),
    ("hardware",),  # the GPU catalog and prices (data), and the fit verdict every estimate carries
    ("layout",),  # one Layout for serving and training alike
    ("inference",),
    ("training",),
    ("perf",),  # speed, latency, step time and cost: rooflines over the memory models' bytes
    ("plan",),  # fit inversions and the layout search, over the inference and training cost models
    ("measure",),
    ("render", "svg", "explain"),  # text tables; SVG charts; the "how this was computed" rows
    ("api",),  # params(), infer(), train(), inspect(): what commands/ and the web call
    ("charts",),  # what a chart shows: the API asked at each x (plot and the web page)
    ("web",),  # llmsize serve's app (FastAPI, imported only by commands/serve.py)
    ("commands",),
    ("cli", "__main__"),
    ("",),  # the package itself: the public API re-exports from every layer
]

def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted name -> (file, is a package)."""
    out = {}
    for path in sorted((SRC / "llmsize").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return out


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _resolve(name: str, modules: dict[str, tuple[Path, bool]]) -> str:
    """The module a dotted name lives in: ``llmsize.arch.MoE`` -> ``llmsize.arch``."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name


def _imported(node: ast.AST, package: str) -> list[str]:
    """The dotted names an import statement brings in."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        parts = package.split(".")
        origin = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
    else:
        origin = node.module or ""
    return [f"{origin}.{a.name}" for a in node.names]


def _imports(tree: ast.Module, package: str) -> list[tuple[str, int]]:
    """(dotted name, line) for every import, at any depth, outside ``if TYPE_CHECKING:``."""
    found: list[tuple[str, int]] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if _is_type_checking(child):
                assert isinstance(child, ast.If)
                stack.extend(child.orelse)
                continue
            found += [(name, getattr(child, "lineno", 0)) for name in _imported(child, package)]
            stack.append(child)
    return found


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {imported llmsize module: line of its first import}."""
    modules = _modules()
    graph: dict[str, dict[str, int]] = {}
    for name, (path, is_package) in modules.items():
        package = name if is_package else name.rpartition(".")[0]
        edges: dict[str, int] = {}
        for imported, line in sorted(_imports(ast.parse(path.read_text(encoding="utf-8")), package),
                                     key=lambda x: x[1]):
            target = _resolve(imported, modules)
            if target.startswith("llmsize") and target != name:
                edges.setdefault(target, line)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, dict[str, int]]) -> list[str] | None:
    """One cycle (its modules in order, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        path.pop()
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def layer_of(module: str) -> int:
    top = module.removeprefix("llmsize").removeprefix(".").split(".")[0]
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    raise AssertionError(f"{module}: not in LAYERS; add it where it belongs")


def test_the_graph_is_read():
    graph = import_graph()
    assert graph["llmsize.inference.kvcache"]["llmsize.arch"]  # module level, relative
    assert "llmsize.inference.vllm" in graph["llmsize.inference.engines"]  # inside a function
    assert "llmsize.sources.checkpoint" not in graph["llmsize.inference.engines"]  # TYPE_CHECKING only


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b": 1}, "b": {}, "c": {"a": 1}}) is None


def test_packages_import_only_downward():
    upward = [f"{m} (layer {layer_of(m)}) imports {t} (layer {layer_of(t)}) at line {line}"
              for m, edges in import_graph().items() for t, line in edges.items()
              if layer_of(t) > layer_of(m)]
    assert not upward, "\n".join(upward)
