"""What dbt says about Gold, read from the manifests a `dbt parse` writes (manifest.json for the
models' columns, data types, descriptions and tests; semantic_manifest.json for the semantic models,
the time spine and the metrics). The compiled manifests, not the YAML: they are what MetricFlow and
the API read, with every default filled in.

Tables are the semantic models' relations plus the time spine. Relationships come from the
semantic layer's entities (a foreign entity points at the model whose primary entity has its name,
as MetricFlow joins) and, for the time spine, from the fact's dbt `relationships` test to it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ingest.powerbi import KitError

SIMPLE, RATIO = "simple", "ratio"
ONE_SIDE_ENTITIES = {"primary", "unique", "natural"}

_TYPE_KINDS = {
    "string": "string",
    "varchar": "string",
    "char": "string",
    "int": "int",
    "integer": "int",
    "bigint": "int",
    "smallint": "int",
    "tinyint": "int",
    "decimal": "decimal",
    "numeric": "decimal",
    "double": "double",
    "float": "double",
    "real": "double",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp",
}


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str  # as the dbt contract has it, e.g. decimal(18,2)
    description: str
    not_null: bool = False
    accepted_values: tuple[str, ...] | None = None

    @property
    def kind(self) -> str:
        """string, int, decimal, double, boolean, date or timestamp."""
        base = re.match(r"\s*([a-z]+)", self.data_type.lower())
        kind = _TYPE_KINDS.get(base.group(1)) if base else None
        if kind is None:
            raise KitError(f"column {self.name}: data type {self.data_type!r} has no Power BI mapping")
        return kind

    @property
    def scale(self) -> int:
        """Digits after the decimal point of a decimal(p,s) (0 otherwise)."""
        match = re.search(r"\(\s*\d+\s*,\s*(\d+)\s*\)", self.data_type)
        return int(match.group(1)) if match and self.kind == "decimal" else 0


@dataclass(frozen=True)
class Table:
    name: str  # the relation's name in the schema
    schema: str
    columns: tuple[Column, ...]
    key: str | None = None  # the primary entity's column, if any

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KitError(f"{self.name} has no column {name!r} (columns: {', '.join(self.column_names)})")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)


@dataclass(frozen=True)
class Relationship:
    """Many rows of from_table to one row of to_table."""

    from_table: str
    from_column: str
    to_table: str
    to_column: str
    rely_on_referential_integrity: bool  # the key is not null and tested to exist: inner joins


@dataclass(frozen=True)
class Measure:
    name: str
    agg: str
    expr: str
    table: str


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    description: str
    type: str  # simple or ratio
    measure: Measure | None = None  # simple
    numerator: str | None = None  # ratio: metric names
    denominator: str | None = None


@dataclass(frozen=True)
class GoldModel:
    tables: tuple[Table, ...]
    relationships: tuple[Relationship, ...]
    date_table: str
    date_column: str  # the time spine's day column
    metrics: tuple[Metric, ...]

    def table(self, name: str) -> Table:
        for table in self.tables:
            if table.name == name:
                return table
        raise KitError(f"no table {name!r} in the model")

    def metric(self, name: str) -> Metric:
        for metric in self.metrics:
            if metric.name == name:
                return metric
        raise KitError(f"no metric {name!r} in the semantic layer")


def parse_project(project_dir: Path, target_path: Path) -> Path:
    """`dbt parse` of the project (local target, throw-away data directory) into target_path."""
    from ingest.local.dbt import dbt_executable

    target_path.mkdir(parents=True, exist_ok=True)
    (target_path / "data" / "warehouse").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "LAKEHOUSE_DATA_DIR": str(target_path / "data")}
    completed = subprocess.run(
        [dbt_executable(), "parse", "--quiet", "--target", "local", "--profiles-dir", str(project_dir),
         "--target-path", str(target_path), "--no-partial-parse"],
        cwd=project_dir, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if completed.returncode != 0:
        raise KitError(f"dbt parse failed:\n{(completed.stdout + completed.stderr)[-3000:]}")
    return target_path


def load(target_path: Path) -> GoldModel:
    """The Gold model from a dbt target directory (manifest.json and semantic_manifest.json)."""
    try:
        manifest = json.loads((target_path / "manifest.json").read_text(encoding="utf-8"))
        semantic = json.loads((target_path / "semantic_manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError as missing:
        raise KitError(
            f"{missing.filename} is missing: `dbt parse --target-path {target_path}` first"
        ) from None
    return build(manifest, semantic)


def build(manifest: dict, semantic: dict) -> GoldModel:
    models = {
        (node["schema"], node["alias"]): node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
    }
    tests = _column_tests(manifest)

    def node_of(relation: dict) -> dict:
        key = (relation["schema_name"], relation["alias"])
        if key not in models:
            raise KitError(f"no dbt model for the relation {key[0]}.{key[1]}")
        return models[key]

    semantic_models = semantic["semantic_models"]
    (spine,) = _one(semantic["project_configuration"]["time_spines"], "time spine")
    nodes = {sm["node_relation"]["alias"]: node_of(sm["node_relation"]) for sm in semantic_models}
    tables: dict[str, Table] = {}
    for sm in semantic_models:
        primaries = [e["expr"] or e["name"] for e in sm["entities"] if e["type"] == "primary"]
        alias = sm["node_relation"]["alias"]
        tables[alias] = _table(nodes[alias], tests, primaries[0] if primaries else None)
    spine_node = node_of(spine["node_relation"])
    date_column = spine["primary_column"]["name"]
    tables[spine_node["alias"]] = _table(spine_node, tests, date_column)
    for table in tables.values():
        if table.key:
            table.column(table.key)

    ids = {alias: node["unique_id"] for alias, node in nodes.items()}
    relationships = [*_entity_relationships(semantic_models, tables, ids, tests)]
    relationships += _time_relationships(semantic_models, nodes, spine_node, tests)
    _check_no_ambiguous_paths(relationships)

    measures = {m["name"]: (sm, m) for sm in semantic_models for m in sm["measures"]}
    metrics = tuple(_metric(raw, measures) for raw in semantic["metrics"])
    return GoldModel(tuple(tables.values()), tuple(relationships), spine_node["alias"], date_column, metrics)


def _one(items: list, what: str) -> list:
    if len(items) != 1:
        raise KitError(f"expected one {what}, found {len(items)}")
    return items


def _column_tests(manifest: dict) -> dict[tuple[str, str], list[tuple[str, dict, list[str]]]]:
    """(model unique id, column) -> [(test name, kwargs, other models it depends on)]."""
    found: dict[tuple[str, str], list[tuple[str, dict, list[str]]]] = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] != "test" or not node.get("test_metadata"):
            continue
        attached, column = node.get("attached_node"), node.get("column_name")
        if not attached or not column:
            continue
        others = [n for n in node["depends_on"]["nodes"] if n != attached]
        meta = node["test_metadata"]
        found.setdefault((attached, column), []).append((meta["name"], meta.get("kwargs") or {}, others))
    return found


def _table(node: dict, tests: dict, key: str | None) -> Table:
    columns = []
    for name, raw in node["columns"].items():
        column_tests = tests.get((node["unique_id"], name), [])
        accepted = [kwargs.get("values") for test, kwargs, _ in column_tests if test == "accepted_values"]
        if not raw.get("data_type"):
            raise KitError(f"{node['name']}.{name} has no data_type in the dbt YAML")
        columns.append(
            Column(
                name=name,
                data_type=raw["data_type"],
                description=" ".join((raw.get("description") or "").split()),
                not_null=any(test == "not_null" for test, _, _ in column_tests),
                accepted_values=tuple(str(v) for v in accepted[0]) if accepted and accepted[0] else None,
            )
        )
    if not columns:
        raise KitError(f"{node['name']} declares no columns in the dbt YAML")
    return Table(name=node["alias"], schema=node["schema"], columns=tuple(columns), key=key)


def _entity_relationships(
    semantic_models: list, tables: dict[str, Table], ids: dict[str, str], tests: dict
) -> Iterable[Relationship]:
    one_side: dict[str, list[tuple[str, str]]] = {}
    for sm in semantic_models:
        for entity in sm["entities"]:
            if entity["type"] in ONE_SIDE_ENTITIES:
                one_side.setdefault(entity["name"], []).append(
                    (sm["node_relation"]["alias"], entity["expr"] or entity["name"])
                )
    for sm in semantic_models:
        table = tables[sm["node_relation"]["alias"]]
        for entity in sm["entities"]:
            if entity["type"] != "foreign":
                continue
            column = table.column(entity["expr"] or entity["name"])
            targets = one_side.get(entity["name"], [])
            if not targets:
                raise KitError(
                    f"{table.name}: entity {entity['name']} is the primary entity of no semantic model"
                )
            for to_table, to_column in targets:
                tables[to_table].column(to_column)
                integrity = _integrity(tests, ids[table.name], column, ids[to_table], to_column)
                yield Relationship(table.name, column.name, to_table, to_column, integrity)


def _integrity(tests: dict, from_id: str, column: Column, to_id: str, to_column: str) -> bool:
    """Not null and a dbt relationships test to exactly this target: every key has its row."""
    return column.not_null and any(
        test == "relationships" and kwargs.get("field") == to_column and to_id in others
        for test, kwargs, others in tests.get((from_id, column.name), [])
    )


def _time_relationships(semantic_models: list, nodes: dict[str, dict], spine: dict, tests: dict) -> list:
    """Each semantic model with measures to the time spine, on the column its dbt relationships
    test ties to the spine (the fact's date_key to dim_date.date_key)."""
    found = []
    for sm in semantic_models:
        if not sm["measures"]:
            continue
        node = nodes[sm["node_relation"]["alias"]]
        links = [
            (column, kwargs["field"])
            for (node_id, column), column_tests in tests.items()
            if node_id == node["unique_id"]
            for test, kwargs, others in column_tests
            if test == "relationships" and spine["unique_id"] in others
        ]
        if len(links) != 1:
            raise KitError(
                f"{node['alias']}: needs exactly one dbt relationships test to the time spine "
                f"{spine['alias']} (found {len(links)}): it is the date relationship in Power BI"
            )
        (column, field) = links[0]
        not_null = any(t == "not_null" for t, _, _ in tests.get((node["unique_id"], column), []))
        found.append(Relationship(node["alias"], column, spine["alias"], field, not_null))
    return found


def _check_no_ambiguous_paths(relationships: list[Relationship]) -> None:
    """Power BI keeps one active path between two tables: refuse a model with a cycle."""
    parent: dict[str, str] = {}

    def root(table: str) -> str:
        while parent.get(table, table) != table:
            table = parent[table]
        return table

    for rel in relationships:
        a, b = root(rel.from_table), root(rel.to_table)
        if a == b:
            raise KitError(
                f"relationship {rel.from_table}.{rel.from_column} -> {rel.to_table}.{rel.to_column} "
                "closes a second path between two tables (ambiguous in Power BI)"
            )
        parent[a] = b


def _measure(sm: dict, measure: dict) -> Measure:
    name = f"measure {measure['name']}"
    if measure.get("non_additive_dimension"):
        raise KitError(f"{name}: non_additive_dimension has no DAX translation in the kit")
    if measure.get("agg_params") and any(measure["agg_params"].values()):
        raise KitError(f"{name}: agg_params have no DAX translation in the kit")
    own_time = measure.get("agg_time_dimension")
    if own_time and own_time != (sm.get("defaults") or {}).get("agg_time_dimension"):
        raise KitError(f"{name}: its own agg_time_dimension {own_time} is not the date relationship")
    return Measure(
        measure["name"], measure["agg"], measure["expr"] or measure["name"], sm["node_relation"]["alias"]
    )


def _metric(raw: dict, measures: dict[str, tuple[dict, dict]]) -> Metric:
    name, params = raw["name"], raw["type_params"]
    common = {
        "name": name,
        "label": raw.get("label") or name,
        "description": " ".join((raw.get("description") or "").split()),
    }
    if raw.get("filter"):
        raise KitError(f"metric {name}: metric filters have no DAX translation in the kit")
    if raw["type"] == SIMPLE:
        ref = params["measure"]
        _plain_input(name, ref, ("filter", "alias", "fill_nulls_with", "join_to_timespine"))
        if ref["name"] not in measures:
            raise KitError(f"metric {name}: no measure {ref['name']}")
        return Metric(type=SIMPLE, measure=_measure(*measures[ref["name"]]), **common)
    if raw["type"] == RATIO:
        for side in ("numerator", "denominator"):
            _plain_input(name, params[side], ("filter", "alias", "offset_window", "offset_to_grain"))
        return Metric(
            type=RATIO,
            numerator=params["numerator"]["name"],
            denominator=params["denominator"]["name"],
            **common,
        )
    raise KitError(f"metric {name}: {raw['type']} metrics have no DAX translation in the kit (simple, ratio)")


def _plain_input(metric: str, ref: dict, options: tuple[str, ...]) -> None:
    for option in options:
        if ref.get(option):
            raise KitError(f"metric {metric}: {option} on {ref['name']} has no DAX translation in the kit")
