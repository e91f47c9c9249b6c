"""The semantic layer at run time: the metrics and dimensions defined once in dbt
(`models/marts/_marts__semantic.yml`), and metric queries compiled to SQL by MetricFlow.

Nothing here assembles SQL from request text. A query names metrics and dimensions, which
must be in the semantic manifest; filter values never enter the SQL: each becomes a named
bind parameter (`$p0` on DuckDB, `:p0` on Databricks) that the backend binds. The SQL comes
from MetricFlow's own renderer for the engine.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ingest.paths import PROJECT_DIR, DataDir

# The time grains a query may ask for: MetricFlow's standard ones and the time spine's custom
# fiscal year (dim_date, April to March).
GRAINS = ("day", "week", "month", "quarter", "year", "fiscal_year")
FILTER_OPS = ("eq", "ne", "in", "not_in")
ENGINES = ("duckdb", "databricks")
PLAN_CACHE_ENTRIES = 1000


class QueryError(ValueError):
    """A query the semantic layer cannot answer as asked; the message says what was wrong."""


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    description: str
    type: str


@dataclass(frozen=True)
class Dimension:
    name: str  # MetricFlow's qualified name, e.g. country__region
    description: str
    value_type: str  # "boolean" or "string"


@dataclass(frozen=True)
class Filter:
    dimension: str
    op: str
    values: tuple


@dataclass(frozen=True)
class MetricQuery:
    """One metric question; `key()` identifies it for the cache."""

    metrics: tuple[str, ...]
    group_by: tuple[str, ...] = ()
    grain: str | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    filters: tuple[Filter, ...] = ()
    order_by: tuple[str, ...] = ()

    def key(self) -> str:
        return json.dumps(
            [
                self.metrics,
                self.group_by,
                self.grain,
                str(self.start),
                str(self.end),
                [(f.dimension, f.op, [repr(v) for v in f.values]) for f in self.filters],
                self.order_by,
            ]
        )


@dataclass(frozen=True)
class CompiledQuery:
    sql: str
    params: dict[str, object]


@dataclass
class SemanticLayer:
    """The manifest's metrics and dimensions, and a MetricFlow engine to compile queries."""

    engine: str
    metrics: dict[str, Metric]
    dimensions: dict[str, Dimension]
    _mf: object = field(repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _planned: dict[str, str] = field(default_factory=dict, repr=False)  # SQL by question shape

    @classmethod
    def load(
        cls, manifest_path: Path, engine: str, database: str | None, schemas: dict[str, str]
    ) -> SemanticLayer:
        """Read dbt's `semantic_manifest.json` and point its relations at `database` (the DuckDB
        catalog or the Unity Catalog catalog) and the layer schemas (`gold`)."""
        from metricflow.engine.metricflow_engine import MetricFlowEngine
        from metricflow_semantics.model.dbt_manifest_parser import parse_manifest_from_dbt_generated_manifest
        from metricflow_semantics.model.semantic_manifest_lookup import SemanticManifestLookup

        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
        if not manifest_path.exists():
            raise FileNotFoundError(
                f"no semantic manifest at {manifest_path}: run `dbt parse` (make dbt-build does) first"
            )
        raw = json.loads(manifest_path.read_text())
        for relation in _node_relations(raw):
            relation["database"] = database
            relation["schema_name"] = schemas.get(relation["schema_name"], relation["schema_name"])
            parts = [p for p in (database, relation["schema_name"], relation["alias"]) if p]
            quote = '"' if engine == "duckdb" else "`"
            relation["relation_name"] = ".".join(f"{quote}{p}{quote}" for p in parts)
        manifest = parse_manifest_from_dbt_generated_manifest(json.dumps(raw))
        mf = MetricFlowEngine(SemanticManifestLookup(manifest), _CompileOnlyClient(engine))
        metrics = {
            m.name: Metric(m.name, m.label or m.name, (m.description or "").strip(), m.type.value)
            for m in sorted(mf.list_metrics(), key=lambda m: m.name)
        }
        dimensions: dict[str, Dimension] = {}
        for dim in mf.simple_dimensions_for_metrics(list(metrics)):
            name = dim.dunder_name
            if dim.type.value == "time":
                continue  # time is asked for as metric_time at a grain
            # house style: boolean columns are named is_/has_ (STYLE.md)
            value_type = "boolean" if name.split("__")[-1].startswith(("is_", "has_")) else "string"
            dimensions[name] = Dimension(name, (dim.description or "").strip(), value_type)
        return cls(engine=engine, metrics=metrics, dimensions=dict(sorted(dimensions.items())), _mf=mf)

    def compile(self, query: MetricQuery) -> CompiledQuery:
        """SQL for `query` with its bind parameters; QueryError names what is wrong."""
        self.check(query)
        where: list[str] = []
        params: dict[str, object] = {}

        def bind(value: object) -> str:
            key = f"p{len(params)}"
            params[key] = value
            return self._placeholder(key)

        # the date range is a filter on the day with bound values too, so every question of
        # one shape has the same SQL (planned once) whatever its dates and values
        day = "{{ TimeDimension('metric_time', 'day') }}"
        if query.start:
            where.append(f"{day} >= {bind(query.start)}")
        if query.end:
            where.append(f"{day} <= {bind(query.end)}")
        for f in query.filters:
            names = [bind(value) for value in f.values]
            ref = "{{ Dimension('" + f.dimension + "') }}"
            if f.op == "eq":
                where.append(f"{ref} = {names[0]}")
            elif f.op == "ne":
                where.append(f"({ref} <> {names[0]} or {ref} is null)")
            elif f.op == "in":
                where.append(f"{ref} in ({', '.join(names)})")
            else:
                where.append(f"({ref} not in ({', '.join(names)}) or {ref} is null)")
        shape = json.dumps([query.metrics, query.group_by, query.grain, where, query.order_by])
        sql = self._planned.get(shape)
        if sql is None:
            sql = self._plan(query, where)
            with self._lock:
                if len(self._planned) >= PLAN_CACHE_ENTRIES:
                    self._planned.clear()
                self._planned[shape] = sql
        return CompiledQuery(sql=sql, params=params)

    def _plan(self, query: MetricQuery, where: list[str]) -> str:
        from metricflow.engine.metricflow_engine import MetricFlowQueryRequest

        group_by = list(query.group_by)
        if query.grain:
            group_by.insert(0, f"metric_time__{query.grain}")
        order_by = [self._order_name(name, query.grain) for name in query.order_by]
        if not order_by and query.grain:
            order_by = [f"metric_time__{query.grain}"]
        request = MetricFlowQueryRequest.create(
            metric_names=list(query.metrics),
            group_by_names=group_by or None,
            where_constraints=where or None,
            order_by_names=order_by or None,
        )
        with self._lock:  # the engine's id generator is shared state
            try:
                explained = self._mf.explain(request)
            except Exception as exc:  # MetricFlow says what it could not resolve
                raise QueryError(f"MetricFlow could not plan the query: {str(exc).splitlines()[0]}") from exc
        return explained.sql_statement.sql

    def check(self, query: MetricQuery) -> None:
        if not query.metrics:
            raise QueryError("name at least one metric")
        for name in query.metrics:
            if name not in self.metrics:
                raise QueryError(f"unknown metric {name!r}; known: {', '.join(self.metrics)}")
        if len(set(query.metrics)) != len(query.metrics):
            raise QueryError("a metric is named twice")
        for name in query.group_by:
            if name not in self.dimensions:
                raise QueryError(f"unknown dimension {name!r}; known: {', '.join(self.dimensions)}")
        if len(set(query.group_by)) != len(query.group_by):
            raise QueryError("a dimension is named twice in group_by")
        if query.grain is not None and query.grain not in GRAINS:
            raise QueryError(f"unknown grain {query.grain!r}; one of {', '.join(GRAINS)}")
        if query.start and query.end and query.start > query.end:
            raise QueryError(f"start {query.start} is after end {query.end}")
        for f in query.filters:
            dim = self.dimensions.get(f.dimension)
            if dim is None:
                raise QueryError(
                    f"unknown filter dimension {f.dimension!r}; known: {', '.join(self.dimensions)}"
                )
            if f.op not in FILTER_OPS:
                raise QueryError(f"unknown filter op {f.op!r}; one of {', '.join(FILTER_OPS)}")
            if not f.values:
                raise QueryError(f"filter on {f.dimension} has no value")
            if f.op in ("eq", "ne") and len(f.values) != 1:
                raise QueryError(f"filter op {f.op} takes one value, got {len(f.values)}")
            want = bool if dim.value_type == "boolean" else str
            for value in f.values:
                if type(value) is not want:
                    raise QueryError(
                        f"filter on {f.dimension} takes {dim.value_type} values, got {type(value).__name__}"
                    )
        for name in query.order_by:
            self._order_name(name, query.grain, query)

    def _order_name(self, name: str, grain: str | None, query: MetricQuery | None = None) -> str:
        bare = name.removeprefix("-")
        if bare == "metric_time" and grain:
            return name.replace("metric_time", f"metric_time__{grain}")
        if bare in self.metrics or bare in self.dimensions:
            if query is not None and bare not in query.metrics and bare not in query.group_by:
                raise QueryError(f"order_by {bare!r} is not among the query's metrics or group_by")
            return name
        raise QueryError(f"cannot order by {bare!r}: name a metric or dimension of the query, or metric_time")

    def _placeholder(self, key: str) -> str:
        return f"${key}" if self.engine == "duckdb" else f":{key}"


def _node_relations(node: object):
    """Every `node_relation` of the manifest: semantic models and time spines."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "node_relation" and isinstance(value, dict):
                yield value
            else:
                yield from _node_relations(value)
    elif isinstance(node, list):
        for item in node:
            yield from _node_relations(item)


class _CompileOnlyClient:
    """What MetricFlow needs to render SQL for an engine; it never runs anything (the API's
    backends do, with bind parameters)."""

    def __init__(self, engine: str) -> None:
        from metricflow.protocols.sql_client import SqlEngine

        if engine == "duckdb":
            from metricflow.sql.render.duckdb_renderer import DuckDbSqlPlanRenderer

            self.sql_engine_type, self.sql_plan_renderer = SqlEngine.DUCKDB, DuckDbSqlPlanRenderer()
        else:
            from metricflow.sql.render.databricks import DatabricksSqlPlanRenderer

            self.sql_engine_type, self.sql_plan_renderer = SqlEngine.DATABRICKS, DatabricksSqlPlanRenderer()

    def render_bind_parameter_key(self, bind_parameter_key: str) -> str:
        return (
            f"${bind_parameter_key}" if self.sql_engine_type.value == "DuckDB" else f":{bind_parameter_key}"
        )

    def query(self, *args, **kwargs):
        raise NotImplementedError("compile only")

    execute = dry_run = query

    def close(self) -> None:
        pass


def semantic_manifest(data: DataDir, environ: dict[str, str] | None = None) -> Path:
    """dbt's semantic manifest: LAKEHOUSE_SEMANTIC_MANIFEST, else the newest one a dbt parse left
    (the runner's, the project's target/), else a fresh `dbt parse`."""
    env = os.environ if environ is None else environ
    if env.get("LAKEHOUSE_SEMANTIC_MANIFEST"):
        return Path(env["LAKEHOUSE_SEMANTIC_MANIFEST"])
    found = [
        p
        for p in (
            data.run / "dbt-target" / "semantic_manifest.json",
            PROJECT_DIR / "target" / "semantic_manifest.json",
        )
        if p.exists()
    ]
    if found:
        return max(found, key=lambda p: p.stat().st_mtime)
    target = data.run / "api-target"
    dbt = Path(sys.executable).parent / "dbt"
    subprocess.run(
        [
            str(dbt if dbt.exists() else "dbt"),
            "parse",
            "--quiet",
            "--target",
            "local",
            "--profiles-dir",
            str(PROJECT_DIR),
            "--target-path",
            str(target),
        ],
        cwd=PROJECT_DIR,
        env={**os.environ, **data.env()},
        check=True,
    )
    return target / "semantic_manifest.json"
