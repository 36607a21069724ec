"""The package's shape (docs/ARCHITECTURE.md): no import cycle, no module over ~450 lines, and the old flat import
paths still name the same modules."""
from __future__ import annotations

import ast
import importlib
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


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Project modules that `name` imports, at module level or inside functions (lazy imports count too)."""
    tree = ast.parse(path.read_text())
    pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


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


def test_no_import_cycle_between_project_modules():
    mods = {n: p for n, p in _modules().items() if not _is_stub(p)}
    known = set(mods)
    # a package's __init__ is not an edge target when a submodule is named: `from a.b import c` needs a.b.c, and the
    # package __init__ files here hold no imports of their submodules' users
    graph = {n: {t for t in _imports(n, p, known) if t in known} for n, p in mods.items()}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_module_over_450_lines():
    long = {n: len(p.read_text().splitlines()) for n, p in _modules().items()}
    assert {n: k for n, k in long.items() if k > MAX_LINES} == {}


def test_the_top_level_holds_sub_packages_and_no_stubs():
    """No compatibility stubs: every top-level module is one of the declared few, and no module anywhere aliases
    itself into sys.modules."""
    top = {p.stem for p in (ROOT / "equigen_core").glob("*.py")}
    assert top == {"__init__", "__main__", "cli", "presets", "recipes"}
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
