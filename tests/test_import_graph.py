"""The house keeps its shape: aebench's imports point one way, with no cycles and no module
taking another's ``_private`` names.

Layers, lowest first (a module may import its own package and any lower layer; ``stats`` is
numbers only, so it imports nothing above the contract):

    contract   aebench/__init__, errors, protocol, dataset, model, training, nn, hookspecs,
               imagesets, aebench.data (helpers for data-set plugins), and the search-space
               types a model declares (aebench.tuning, aebench.tuning.space)
    registry   plugin loading and the registry
    records    stored records and their arrays
    run        one run -> one record            stats   numbers only
    execute    many runs    tuning   search     report  records -> outputs
    cli        one module per command; testing (the contract suite) and __main__

Function-level imports count: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "aebench"

RANK = {
    "contract": 0,
    "registry": 1,
    "records": 2,
    "run": 3,
    "stats": 3,
    "execute": 4,
    "tuning": 4,
    "report": 4,
    "cli": 5,
    "testing": 5,
}
#: what a layer may import besides its own package, where that is narrower than "any lower"
ONLY = {"stats": {"contract"}}
SUBPACKAGES = {"registry", "records", "run", "stats", "execute", "tuning", "report", "cli"}


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PKG.rglob("*.py"):
        parts = path.relative_to(PKG.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = path
    return mods


MODULES = _modules()


#: parts of subpackages that belong to the plugin contract: a model declares its search space
#: with ``aebench.tuning``'s parameter types (the documented import path)
CONTRACT_PARTS = {"aebench.tuning", "aebench.tuning.space"}


def layer(module: str) -> str:
    """The layer a module of aebench belongs to."""
    if module in CONTRACT_PARTS:
        return "contract"
    parts = module.split(".")
    if len(parts) == 1:
        return "contract"
    if parts[1] in SUBPACKAGES:
        return parts[1]
    if parts[1] == "__main__":
        return "cli"
    if parts[1] == "testing":
        return "testing"
    return "contract"


def _targets(module: str, node: ast.AST) -> list[tuple[str, str | None]]:
    """(aebench module imported, name taken from it or None) for an import statement."""
    out = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            out.append((alias.name, None))
    elif isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            here = module.split(".")
            if MODULES[module].name != "__init__.py":
                here = here[:-1]
            here = here[: len(here) - (node.level - 1)]
            base = ".".join(here + ([base] if base else []))
        for alias in node.names:
            full = f"{base}.{alias.name}"
            out.append((full, None) if full in MODULES else (base, alias.name))
    resolved = []
    for target, name in out:
        while target and target not in MODULES:
            target = target.rpartition(".")[0]
        if target.startswith("aebench") and target in MODULES:
            resolved.append((target, name))
    return resolved


def _graph() -> tuple[dict[str, set[str]], list[str]]:
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    private: list[str] = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text())
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for (target, name), alias in zip(_targets(module, node), node.names):
                if target == module:
                    continue
                if target != "aebench" or name is None:
                    edges[module].add(target)
                if name and name.startswith("_") and not name.startswith("__"):
                    private.append(f"{module} takes {target}.{name}")
                if name is None or target.endswith("." + alias.name.split(".")[-1]):
                    aliases[alias.asname or alias.name.split(".")[-1]] = target
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                private.append(f"{module} takes {aliases[node.value.id]}.{node.attr}")
    return edges, private


EDGES, PRIVATE = _graph()
#: the edges against the grain, kept visible: ``aebench.load_model`` is a user's entry point
#: (not a plugin's), and imports the run layer inside the function, only when called
CALL_TIME_EXPORTS = {("aebench", "aebench.run.saved")}
#: likewise ``aebench.load_results`` and ``aebench.board_frame``: results as DataFrames
CALL_TIME_EXPORTS |= {("aebench", "aebench.records.frame"), ("aebench", "aebench.report.frames")}
for _module, _target in CALL_TIME_EXPORTS:
    EDGES[_module].discard(_target)


def test_call_time_exports_import_inside_a_function_only():
    for module, target in CALL_TIME_EXPORTS:
        tree = ast.parse(MODULES[module].read_text())
        top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        assert not any(t == target for n in top for t, _ in _targets(module, n))


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found = []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges[w]))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        found.append(sorted(comp))
    return found


def test_the_cycle_finder_finds_a_planted_cycle():
    planted = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(planted) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_function_level_imports_included():
    assert _cycles(EDGES) == []


def test_no_module_takes_another_modules_private_names():
    assert PRIVATE == []


def test_imports_point_one_way():
    upward = []
    for module, targets in EDGES.items():
        mine = layer(module)
        for target in targets:
            theirs = layer(target)
            if theirs == mine:
                continue
            allowed = ONLY.get(mine)
            ok = theirs in allowed if allowed is not None else RANK[theirs] < RANK[mine]
            if not ok:
                upward.append(f"{module} ({mine}) imports {target} ({theirs})")
    assert upward == []


def test_at_most_fifteen_modules_at_the_top_level():
    top = sorted(p.name for p in PKG.glob("*.py"))
    assert len(top) <= 15, top


@pytest.mark.parametrize("path", sorted(MODULES.values()), ids=lambda p: str(p.relative_to(PKG)))
def test_no_module_past_about_500_lines(path):
    assert len(path.read_text().splitlines()) <= 520


@pytest.mark.parametrize(
    "path, names",
    [
        ("aebench", ["TorchModel", "Model", "Dataset", "Protocol", "hookimpl", "FitContext"]),
        ("aebench.tuning", ["Choice", "Float", "Int", "check_space"]),
        ("aebench.testing", []),
        ("aebench.imagesets", ["ImageSet", "ImageSetDataset", "one_class_protocols"]),
    ],
)
def test_the_documented_import_paths_keep_working(path, names):
    import importlib

    module = importlib.import_module(path)
    for name in names:
        assert hasattr(module, name), f"{path}.{name}"
