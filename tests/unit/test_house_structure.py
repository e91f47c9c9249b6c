"""The package's layout holds (issue 22): no import circles, the product never imports what only
measures or tests it, and no module grows past 400 lines unless it is one concept."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "ingest"
MAX_LINES = 400
# Longer modules that are one concept each, and what that concept is.
ONE_CONCEPT = {
    "ingest.generator": "the synthetic order-line generator: one model of the UCI data's shape",
    "ingest.databricks.eventhubs_lag": "Event Hubs' consumer lag read over the Kafka protocol",
    "ingest.databricks.metric_views": "the semantic layer rendered as Unity Catalog metric views",
}
# What only measures (benchmarks, the soak) or starts the product locally: the product's own
# packages may not import these (the local runtime may import the product, not the reverse).
MEASURES = "ingest.benchmarks"
PRODUCT = ("ingest.bronze", "ingest.orders", "ingest.databricks", "ingest.powerbi", "ingest.api")


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules `path` imports, at any depth of the file (lazy imports count)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in known)
    return found


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in graph:
        if node not in index:
            visit(node)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    known = modules()
    # a package's own __init__ is not an import of the package by its modules
    return {name: imports(path, known) - {name.rsplit(".", 1)[0]} for name, path in known.items()}


def test_the_circle_finder_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circles(graph):
    assert circles(graph) == []


def test_the_product_never_imports_benchmarks_or_tests(graph):
    wrong = {
        name: sorted(target for target in targets if target.startswith((MEASURES, "tests")))
        for name, targets in graph.items()
        if name.startswith(PRODUCT)
    }
    assert {name: targets for name, targets in wrong.items() if targets} == {}


def test_no_module_over_400_lines_unless_one_concept():
    long = {
        name: len(path.read_text().splitlines())
        for name, path in modules().items()
        if len(path.read_text().splitlines()) > MAX_LINES
    }
    assert sorted(set(long) - set(ONE_CONCEPT)) == [], long
    assert sorted(set(ONE_CONCEPT) - set(long)) == [], "an allowance no longer needed"


ENTRY_POINTS = ("ingest/__main__.py", "/cli.py")
# Modules besides the command lines that may read the environment, and why: each is an entry
# point of its own or the one place a setting's reading is defined (called by an entry point).
READS_ENVIRONMENT = {
    "ingest/config.py": "defines Settings.from_env and the config classes' from_env",
    "ingest/paths.py": "defines DataDir.from_env",
    "ingest/api/config.py": "defines ApiConfig.from_env (the keys come from the environment only)",
    "ingest/api/server.py": "the `api` command's entry point",
    "ingest/dashboard/app.py": "a Streamlit script: Streamlit runs it as its own entry point",
    "ingest/powerbi/command.py": "the `powerbi` command's entry point",
    "ingest/local/discovery.py": "the commands' discovery: the environment, else our services",
    "ingest/databricks/bronze_job.py": "the Databricks job's entry point",
    "ingest/databricks/eventhubs_secret.py": "asks whether it runs in the Databricks Runtime",
    "ingest/bronze/job.py": "asks whether it runs in the Databricks Runtime (the cluster's session)",
    "ingest/failpoints.py": "failure injection, armed by the tests through the children's environment",
}


def places(pattern: str, allowed: tuple[str, ...] = ()) -> list[str]:
    """`file:line` of every line of the package matching `pattern`, outside the `allowed` files
    (paths relative to the repository, or their endings)."""
    found = re.compile(pattern)
    return [
        f"{name}:{number}"
        for path in PACKAGE.rglob("*.py")
        if not (name := str(path.relative_to(PACKAGE.parent))).endswith(allowed)
        for number, text in enumerate(path.read_text().splitlines(), 1)
        if found.search(text)
    ]


def test_the_environment_is_written_only_at_entry_points():
    writes = r"os\.environ\[[^\]]+\]\s*=|os\.environ\.(setdefault|update|pop)\(|os\.putenv\("
    assert places(writes, ENTRY_POINTS) == []


def test_the_environment_is_read_only_at_entry_points():
    reads = r"os\.environ\.get\(|os\.environ\[|os\.getenv\(|\bin os\.environ(?!\.)|\.from_env\("
    assert places(reads, ENTRY_POINTS + tuple(READS_ENVIRONMENT)) == []
    assert [name for name in READS_ENVIRONMENT if not (PACKAGE.parent / name).exists()] == []


def test_settings_are_passed_down_never_an_optional_fallback():
    assert places(r"data: DataDir \| None|\bor \w+\.from_env\(|if \w+ is None else os\.environ") == []
