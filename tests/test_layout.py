"""The package's shape (docs/ARCHITECTURE.md): the sub-packages stand in one order and every import — at module level
or inside a function — points down it or stays on its floor; no import cycle; no module over ~450 lines; no stubs."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("equigen_core", "equigen_studio")
MAX_LINES = 450


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for f in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(f.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = f
    return out


def _is_stub(path: Path) -> bool:
    return "sys.modules[__name__]" in path.read_text()


def _imports(name: str, source: str, known: set[str], *, is_package: bool = False) -> set[str]:
    """Project modules that module `name` (its text: `source`) imports, at module level or inside functions (lazy
    imports count too). `from a.b import c` names a.b.c when that is a module, else a.b."""
    tree = ast.parse(source)
    pkg = name if is_package else name.rpartition(".")[0]
    found = set()

    def nearest(t: str) -> str:
        while t and t not in known:
            t = t.rpartition(".")[0]
        return t

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [nearest(a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else nearest(base) for a in node.names]
        else:
            continue
        found |= {t for t in targets if t and t != name}
    return found


def _graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    known = set(mods)
    return {n: _imports(n, p.read_text(), known, is_package=p.name == "__init__.py") for n, p in mods.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
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

    for v in graph:
        if v not in index:
            visit(v)
    return out


# The floors, bottom up (docs/ARCHITECTURE.md, "Layers"). A module may import from its own floor and the floors below;
# within a floor, the cycle test keeps the order.
FLOORS = (
    ("equigen_core.presets", "equigen_core.rng"),
    ("equigen_core.storage",),
    ("equigen_core.weightspace",),
    ("equigen_core.data",),
    ("equigen_core.nets",),
    ("equigen_core.domains",),
    ("equigen_core.generation",),
    ("equigen_core.training",),
    ("equigen_core.evaluation",),
    ("equigen_core.reporting",),
    ("equigen_core.service",),
    ("equigen_core.recipes", "equigen_core.commands", "equigen_core.cli", "equigen_core.__main__", "equigen_core"),
    ("equigen_studio",),
)


def _floor(module: str) -> int:
    best = None  # the longest prefix that names a floor
    for i, names in enumerate(FLOORS):
        for n in names:
            if (module == n or module.startswith(n + ".")) and (best is None or len(n) > best[1]):
                best = (i, len(n))
    assert best is not None, f"{module} is on no floor: add its package to FLOORS and docs/ARCHITECTURE.md"
    return best[0]


def _upward(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted((a, b) for a, targets in graph.items() for b in targets if _floor(b) > _floor(a))


def test_every_import_points_down_the_floors():
    assert _upward(_graph(_modules())) == []


def test_an_upward_import_inside_a_function_is_found():
    """A planted lazy import from a lower floor to a higher one fails the floor check (and a downward one passes)."""
    known = set(_modules())
    planted = "def f():\n    from equigen_core.service.studio import Studio\n    return Studio\n"
    graph = {"equigen_core.weightspace.inr": _imports("equigen_core.weightspace.inr", planted, known)}
    assert _upward(graph) == [("equigen_core.weightspace.inr", "equigen_core.service.studio")]
    down = "def f():\n    from equigen_core.storage import atomic\n    return atomic\n"
    assert _upward({"equigen_core.weightspace.inr": _imports("equigen_core.weightspace.inr", down, known)}) == []


def test_the_architecture_doc_lists_the_same_floors():
    """docs/ARCHITECTURE.md's floor table names the packages of FLOORS, floor by floor, in the same order."""
    rows = re.findall(r"^\| (\d+) \| (.+?) \|", (ROOT / "docs" / "ARCHITECTURE.md").read_text(), re.M)
    documented = [{t.strip("/") for t in re.findall(r"`([\w/]+)`", cell)} for _, cell in rows]
    expected = [{"__init__" if n == "equigen_core" else n.rpartition(".")[2] for n in names} for names in FLOORS]
    assert [int(i) for i, _ in rows] == list(range(len(FLOORS)))
    assert documented == expected


def test_no_import_cycle_between_sub_packages():
    """Counting imports inside functions too, the sub-packages (and the top-level modules) form no cycle."""

    def package(module: str) -> str:
        parts = module.split(".")
        return parts[0] if parts[0] != "equigen_core" or len(parts) == 1 else parts[1]

    graph: dict[str, set[str]] = {}
    for a, targets in _graph(_modules()).items():
        graph.setdefault(package(a), set()).update(package(b) for b in targets if package(b) != package(a))
    assert _cycles(graph) == []


def test_no_import_cycle_between_project_modules():
    # a package's __init__ is not an edge target when a submodule is named: `from a.b import c` needs a.b.c
    assert _cycles(_graph(_modules())) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_over_450_lines():
    long = {n: len(p.read_text().splitlines()) for n, p in _modules().items()}
    assert {n: k for n, k in long.items() if k > MAX_LINES} == {}


def test_the_top_level_holds_sub_packages_and_no_stubs():
    """No compatibility stubs: every top-level module is one of the declared few, and no module anywhere aliases
    itself into sys.modules."""
    top = {p.stem for p in (ROOT / "equigen_core").glob("*.py")}
    assert top == {"__init__", "__main__", "cli", "presets", "rng", "recipes"}
    assert [n for n, p in _modules().items() if _is_stub(p)] == []


def test_the_readme_example_of_the_public_api_runs():
    """The README's `import equigen_core as eg` block runs as written, on the shipped checkpoint."""
    import equigen_core

    text = (ROOT / "README.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "import equigen_core as eg" in b)
    names = set(re.findall(r"\beg\.(\w+)", block))
    assert names <= set(equigen_core.__all__), names - set(equigen_core.__all__)
    exec(compile(block, "README.md", "exec"), {})  # noqa: S102 (our own README)


def test_the_readme_imports_work():
    text = (ROOT / "README.md").read_text()
    lines = [ln.strip() for ln in text.splitlines() if re.match(r"\s*from (equigen_core|equigen_studio)[\w.]* import ",
                                                                 ln)]
    assert lines, "the README shows the library's imports"
    for ln in lines:
        exec(ln, {})  # noqa: S102 (our own README's import lines)
