"""The semantic model as TMDL (Tabular Model Definition Language) files, laid out as Power BI Desktop
saves a project's `definition/` folder: database, model, expressions (the M parameters Host, HttpPath
and Catalog), relationships and one file per table.

Every table is read in DirectQuery through the Databricks connector, in the M form Microsoft's
connector page documents (`Databricks.Catalogs(host, http path, [options])`, then navigation by
catalog, schema and table), choosing exactly the dbt contract's columns. The connector's driver is
left to its default unless asked for (IMPLEMENTATIONS). Lineage tags are UUIDs
derived from the object's name, so a regeneration leaves them, and the report's bindings, unchanged.
"""

from __future__ import annotations

import re
import uuid

from ingest.powerbi import KitError
from ingest.powerbi.dax import DaxMeasure
from ingest.powerbi.layer import Column, GoldModel, Table

TAB = "\t"
COMPATIBILITY_LEVEL = 1567
PARAMETERS = ("Host", "HttpPath", "Catalog")
# Text columns of the date table that sort by a number column (month names by month, not A-Z).
DATE_SORT_BY = {"month_name": "month_number", "day_name": "iso_day_of_week"}
_DATA_TYPES = {
    "string": "string",
    "int": "int64",
    "decimal": "decimal",
    "double": "double",
    "boolean": "boolean",
    "date": "dateTime",
    "timestamp": "dateTime",
}
# The connector's `Implementation` option, by the kit's name for it (Microsoft, "Transition from ODBC
# to ADBC drivers in Power BI and Fabric"): left out, the tenant's or workspace's setting picks the
# driver (ODBC, generally available, unless an admin turned ADBC on); "1.0" is the Simba ODBC driver;
# "2.0" the ADBC driver, Preview on the Azure Databricks connector's page.
IMPLEMENTATIONS: dict[str, str | None] = {"default": None, "odbc": "1.0", "adbc": "2.0"}
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/orders-lakehouse/powerbi")


def lineage_tag(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


def name(value: str) -> str:
    """A TMDL object name: quoted when it holds anything but letters, digits and _."""
    return value if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value) else "'" + value.replace("'", "''") + "'"


def description(text: str, indent: str) -> list[str]:
    return [f"{indent}/// {text}"] if text else []


def files(
    model: GoldModel,
    measures: tuple[DaxMeasure, ...],
    *,
    database: str,
    parameters: dict[str, tuple[str, str]],
    implementation: str = "default",
) -> dict[str, str]:
    """definition/ relative path -> TMDL text. parameters: Host, HttpPath, Catalog -> (default value,
    description); implementation: a key of IMPLEMENTATIONS, the connector's driver."""
    if implementation not in IMPLEMENTATIONS:
        raise KitError(f"unknown implementation {implementation!r}: one of {', '.join(IMPLEMENTATIONS)}")
    out = {
        "database.tmdl": _lines(
            f"database {name(database)}", f"{TAB}compatibilityLevel: {COMPATIBILITY_LEVEL}"
        ),
        "model.tmdl": _model(model),
        "expressions.tmdl": _expressions(parameters),
        "relationships.tmdl": _relationships(model),
    }
    for table in model.tables:
        own = tuple(m for m in measures if m.table == table.name)
        out[f"tables/{table.name}.tmdl"] = _table(table, own, model, implementation)
    return out


def _lines(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def _model(model: GoldModel) -> str:
    query_order = ",".join(f'"{q}"' for q in (*PARAMETERS, *(t.name for t in model.tables)))
    return _lines(
        "model Model",
        f"{TAB}culture: en-US",
        f"{TAB}defaultPowerBIDataSourceVersion: powerBI_V3",
        f"{TAB}discourageImplicitMeasures",
        f"{TAB}sourceQueryCulture: en-US",
        f"{TAB}dataAccessOptions",
        f"{TAB}{TAB}legacyRedirects",
        f"{TAB}{TAB}returnErrorValuesAsNull",
        "",
        "annotation __PBI_TimeIntelligenceEnabled = 0",
        "",
        f"annotation PBI_QueryOrder = [{query_order}]",
        "",
        *(f"ref table {name(t.name)}" for t in model.tables),
    )


def _expressions(parameters: dict[str, tuple[str, str]]) -> str:
    lines: list[str] = []
    for parameter in PARAMETERS:
        value, text = parameters[parameter]
        literal = '"' + value.replace('"', '""') + '"'
        lines += [
            *description(text, ""),
            f"expression {parameter} = {literal} meta "
            '[IsParameterQuery=true, Type="Text", IsParameterQueryRequired=true]',
            f"{TAB}lineageTag: {lineage_tag('expression', parameter)}",
            "",
            f"{TAB}annotation PBI_ResultType = Text",
            "",
        ]
    return _lines(*lines[:-1])


def _relationships(model: GoldModel) -> str:
    lines: list[str] = []
    for rel in model.relationships:
        tag = lineage_tag("relationship", rel.from_table, rel.from_column, rel.to_table, rel.to_column)
        lines += [
            f"relationship {tag}",
            *([f"{TAB}relyOnReferentialIntegrity"] if rel.rely_on_referential_integrity else []),
            f"{TAB}fromColumn: {name(rel.from_table)}.{name(rel.from_column)}",
            f"{TAB}toColumn: {name(rel.to_table)}.{name(rel.to_column)}",
            "",
        ]
    return _lines(*lines[:-1])


def _table(table: Table, measures: tuple[DaxMeasure, ...], model: GoldModel, implementation: str) -> str:
    is_date_table = table.name == model.date_table
    lines = [
        f"table {name(table.name)}",
        f"{TAB}lineageTag: {lineage_tag('table', table.name)}",
        *([f"{TAB}dataCategory: Time"] if is_date_table else []),
        "",
    ]
    for measure in measures:
        lines += [
            *description(measure.description, TAB),
            f"{TAB}measure {name(measure.name)} = {measure.expression}",
            f"{TAB}{TAB}formatString: {measure.format_string}",
            f"{TAB}{TAB}lineageTag: {lineage_tag('measure', measure.metric)}",
            "",
        ]
    sort_by = _date_sort_by(table) if is_date_table else {}
    for column in table.columns:
        lines += _column(table, column, sort_by.get(column.name))
    lines += [*_partition(table, implementation), "", f"{TAB}annotation PBI_ResultType = Table"]
    return _lines(*lines)


def _date_sort_by(table: Table) -> dict[str, str]:
    found = {}
    for text, number in DATE_SORT_BY.items():
        if text in table.column_names:
            table.column(number)  # a month name without its month number is an error, not unsorted
            found[text] = number
    return found


def _column(table: Table, column: Column, sort_by: str | None) -> list[str]:
    kind = column.kind
    hidden = column.name.endswith("_key")  # surrogate keys (md5, yyyymmdd): for relationships only
    return [
        *description(column.description, TAB),
        f"{TAB}column {name(column.name)}",
        f"{TAB}{TAB}dataType: {_DATA_TYPES[kind]}",
        *([f"{TAB}{TAB}isKey"] if column.name == table.key else []),
        *([f"{TAB}{TAB}isHidden"] if hidden else []),
        *([f"{TAB}{TAB}formatString: {_format(column)}"] if _format(column) else []),
        f"{TAB}{TAB}lineageTag: {lineage_tag('column', table.name, column.name)}",
        f"{TAB}{TAB}summarizeBy: none",
        f"{TAB}{TAB}sourceColumn: {column.name}",
        *([f"{TAB}{TAB}sortByColumn: {name(sort_by)}"] if sort_by else []),
        "",
        f"{TAB}{TAB}annotation SummarizationSetBy = User",
        *(["", f"{TAB}{TAB}annotation UnderlyingDateTimeDataType = Date"] if kind == "date" else []),
        "",
    ]


def _format(column: Column) -> str | None:
    kind = column.kind
    if kind == "int":
        return "0"
    if kind == "decimal":
        return "#,0." + "0" * column.scale if column.scale else "#,0"
    if kind == "double":
        return "#,0.00"
    if kind == "date":
        return "yyyy-mm-dd"
    if kind == "timestamp":
        return "yyyy-mm-dd hh:nn:ss"
    return None


def m_source(table: Table, implementation: str = "default") -> list[str]:
    """The partition's M: the Databricks connector (with `Implementation` only when one is asked for),
    then catalog (Kind "Database" in the connector's navigation table), schema and table, then
    exactly the model's columns."""
    columns = ", ".join(f'"{c}"' for c in table.column_names)
    step, schema = re.sub(r"\W", "_", table.name), re.sub(r"\W", "_", table.schema)
    value = IMPLEMENTATIONS[implementation]
    driver = "" if value is None else f', Implementation="{value}"'
    return [
        "let",
        f"{TAB}Source = Databricks.Catalogs(Host, HttpPath, [Catalog=null, Database=null, "
        f"EnableAutomaticProxyDiscovery=null{driver}]),",
        f'{TAB}catalog_Database = Source{{[Name=Catalog, Kind="Database"]}}[Data],',
        f'{TAB}{schema}_Schema = catalog_Database{{[Name="{table.schema}", Kind="Schema"]}}[Data],',
        f'{TAB}{step}_Table = {schema}_Schema{{[Name="{table.name}", Kind="Table"]}}[Data],',
        f"{TAB}Columns = Table.SelectColumns({step}_Table, {{{columns}}})",
        "in",
        f"{TAB}Columns",
    ]


def _partition(table: Table, implementation: str) -> list[str]:
    return [
        f"{TAB}partition {name(table.name)} = m",
        f"{TAB}{TAB}mode: directQuery",
        f"{TAB}{TAB}source =",
        *(f"{TAB * 3}{line}" for line in m_source(table, implementation)),
    ]
