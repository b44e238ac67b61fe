"""dvc.yaml lists, for every stage, the library code it runs: a change to a module re-runs
exactly the stages that import it (directly or through other modules)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def module_file(name: str) -> Path | None:
    """The file of an `aiprod.x.y` or `flows.x` module, if it is ours."""
    parts = name.split(".")
    base = ROOT / "src" if parts[0] == "aiprod" else ROOT if parts[0] == "flows" else None
    if base is None:
        return None
    path = base.joinpath(*parts)
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported(path: Path) -> set[Path]:
    """Our modules a file imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            for k in range(1, len(parts) + 1):  # a package's __init__ runs too
                if (file := module_file(".".join(parts[:k]))) is not None:
                    found.add(file)
    return found


CONFIG = ROOT / "src" / "aiprod" / "config"


def closure(start: Path) -> set[Path]:
    """Files a module runs, through its imports. The config package is not followed: it
    validates params (whose values DVC tracks as params), and it imports model presets for
    cross-checks that would otherwise make every stage depend on the networks."""
    seen, todo = set(), [start]
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            if CONFIG not in path.parents:
                todo.extend(imported(path) - seen)
    return seen


def covered(path: Path, deps: list[str]) -> bool:
    rel = path.relative_to(ROOT)
    return any(rel == Path(d) or Path(d) in rel.parents for d in deps)


# package markers: empty, or re-exports of modules listed on their own
EXEMPT = {"src/aiprod/__init__.py", "flows/__init__.py"}


def stages():
    dag = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name, stage in dag.items():
        stage = stage.get("do", stage)  # a foreach stage: its template
        module = stage["cmd"].split()[2]  # python -m flows.<stage> [...]
        deps = [d if isinstance(d, str) else next(iter(d)) for d in stage.get("deps", [])]
        yield name, module, [d for d in deps if not d.startswith("$")]


@pytest.mark.quick
@pytest.mark.parametrize(("name", "module", "deps"), list(stages()))
def test_every_stage_depends_on_the_code_it_imports(name, module, deps):
    used = closure(module_file(module))
    missing = sorted(
        str(p.relative_to(ROOT))
        for p in used
        if not covered(p, deps)
        and str(p.relative_to(ROOT)) not in EXEMPT
        and not str(p.relative_to(ROOT)).startswith("src/aiprod/config/")
    )
    assert not missing, f"{name}: add to its deps in dvc.yaml: {missing}"
