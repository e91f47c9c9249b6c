"""A metric of the semantic layer as a DAX measure.

A simple metric aggregates one measure, whose `expr` is SQL over one row of its table. The SQL is
parsed (sqlglot, Databricks dialect) and translated node by node; only forms whose DAX means the
same on every row, NULLs included, are translated, and anything else raises KitError naming the
metric and the SQL. Nothing is guessed.

Values: a column, a number, NULL (BLANK()), `-x`, `x * y` (NULL and BLANK both propagate), and
`case when ... then ... [else ...] end`. Not `+`, `-` between values, `/`, or functions: DAX adds a
BLANK as 0 where SQL's NULL makes the sum NULL.

Conditions: SQL's CASE takes a branch only when its condition is TRUE (not NULL). Each condition is
translated twice, into DAX that is TRUE exactly when the SQL is TRUE, and when it is FALSE; NOT swaps
them, AND and OR combine them. A boolean column, `column = | <> literal`, `column in (literals)`,
`column is [not] null`. A text literal must be one of the column's dbt `accepted_values` (and those
must differ by more than case): DAX compares text without case, Databricks with it.

Aggregations: sum (SUM, COUNTROWS for `1`, else SUMX), count_distinct (DISTINCTCOUNTNOBLANK: SQL's
COUNT(DISTINCT) skips NULL, DAX's DISTINCTCOUNT counts BLANK; a CASE that keeps one column or NULL
becomes a KEEPFILTERS filter on the columns of its conditions), average, min, max and count. A
ratio metric is DIVIDE([numerator], [denominator]): BLANK where SQL divides by NULLIF(0).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.powerbi import KitError
from ingest.powerbi.layer import RATIO, SIMPLE, GoldModel, Metric, Table

WHOLE, AMOUNT, NUMBER, PERCENT = "whole", "amount", "number", "percent"
FORMAT_STRINGS = {WHOLE: "#,0", AMOUNT: "#,0.00", NUMBER: "#,0.00", PERCENT: "0.00%"}
NUMERIC = {"int", "decimal", "double"}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class DaxMeasure:
    name: str  # the metric's label
    table: str  # the table it is defined on
    expression: str
    format_string: str
    description: str
    metric: str
    kind: str  # whole, amount, number or percent: what the value is, for its format and ratios


def measures(model: GoldModel) -> tuple[DaxMeasure, ...]:
    """One DAX measure per metric, named by the metric's label, in the semantic layer's order."""
    built: dict[str, DaxMeasure] = {}

    def build(metric: Metric, seen: tuple[str, ...] = ()) -> DaxMeasure:
        if metric.name in built:
            return built[metric.name]
        if metric.name in seen:
            raise KitError(f"metric {metric.name}: defined in terms of itself")
        if metric.type == SIMPLE:
            assert metric.measure is not None
            table = model.table(metric.measure.table)
            expression, kind = aggregate(metric.measure.agg, metric.measure.expr, table, metric.name)
        elif metric.type == RATIO:
            numerator = build(model.metric(metric.numerator or ""), (*seen, metric.name))
            denominator = build(model.metric(metric.denominator or ""), (*seen, metric.name))
            expression = f"DIVIDE({measure_ref(numerator.name)}, {measure_ref(denominator.name)})"
            table, kind = model.table(numerator.table), ratio_kind(numerator.kind, denominator.kind)
        else:
            raise KitError(f"metric {metric.name}: {metric.type} metrics have no DAX translation")
        built[metric.name] = DaxMeasure(
            metric.label, table.name, expression, FORMAT_STRINGS[kind], metric.description, metric.name, kind
        )
        return built[metric.name]

    result = tuple(build(metric) for metric in model.metrics)
    _check_names(result, model)
    return result


def ratio_kind(numerator: str, denominator: str) -> str:
    """Amount / amount is a share (percent); amount / count an amount per thing; else a number."""
    if numerator == AMOUNT and denominator == AMOUNT:
        return PERCENT
    if numerator == AMOUNT and denominator == WHOLE:
        return AMOUNT
    return NUMBER


def _check_names(result: tuple[DaxMeasure, ...], model: GoldModel) -> None:
    """Measure names are unique in the model, and differ from every column name (DAX ignores case)."""
    seen: dict[str, str] = {}
    columns = {c.name.lower() for t in model.tables for c in t.columns} | {
        t.name.lower() for t in model.tables
    }
    for measure in result:
        key = measure.name.lower()
        if key in seen:
            raise KitError(f"metrics {seen[key]} and {measure.metric} share the label {measure.name!r}")
        if key in columns:
            raise KitError(
                f"metric {measure.metric}: its label {measure.name!r} is also a column or table name"
            )
        if not measure.name.strip() or "\n" in measure.name:
            raise KitError(f"metric {measure.metric}: label {measure.name!r} is not a measure name")
        seen[key] = measure.metric


def aggregate(agg: str, sql: str, table: Table, metric: str = "?") -> tuple[str, str]:
    """The DAX of agg(sql) over table, and the kind of its value."""
    return _Translator(table, sql, metric).aggregate(agg)


def table_ref(name: str) -> str:
    return name if _IDENTIFIER.fullmatch(name) else "'" + name.replace("'", "''") + "'"


def column_ref(table: str, column: str) -> str:
    return f"{table_ref(table)}[{column.replace(']', ']]')}]"


def measure_ref(name: str) -> str:
    return "[" + name.replace("]", "]]") + "]"


def text_literal(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


class _Translator:
    def __init__(self, table: Table, sql: str, metric: str) -> None:
        import sqlglot
        from sqlglot import exp

        self.exp = exp
        self.table, self.sql, self.metric = table, sql, metric
        try:
            self.tree = sqlglot.parse_one(sql, dialect="databricks")
        except sqlglot.errors.ParseError as error:
            raise self.refuse(f"it does not parse ({error})") from None

    def refuse(self, why: str) -> KitError:
        return KitError(f"metric {self.metric}: cannot translate `{self.sql}` to DAX: {why}")

    def aggregate(self, agg: str) -> tuple[str, str]:
        node, t = self.tree, table_ref(self.table.name)
        while isinstance(node, self.exp.Paren):
            node = node.this
        is_column = isinstance(node, self.exp.Column)
        if agg == "count_distinct":
            return self.count_distinct(node), WHOLE
        value, kind = self.value(node)
        if agg == "count":
            if isinstance(node, self.exp.Literal):
                return f"COUNTROWS({t})", WHOLE
            return (f"COUNT({value})" if is_column else f"COUNTX({t}, {value})"), WHOLE
        if kind not in NUMERIC:
            raise self.refuse(f"{agg} needs a number, this is {kind}")
        if agg == "sum":
            if isinstance(node, self.exp.Literal):
                if value != "1":
                    raise self.refuse("a sum of a constant other than 1")
                return f"COUNTROWS({t})", WHOLE
            return (f"SUM({value})" if is_column else f"SUMX({t}, {value})"), _amount_kind(kind)
        if agg == "average":
            return (f"AVERAGE({value})" if is_column else f"AVERAGEX({t}, {value})"), NUMBER
        if agg in ("min", "max"):
            name = agg.upper()
            return (f"{name}({value})" if is_column else f"{name}X({t}, {value})"), _amount_kind(kind)
        raise self.refuse(
            f"the aggregation {agg!r} has no translation (sum, count_distinct, average, min, max, count)"
        )

    def count_distinct(self, node) -> str:
        """DISTINCTCOUNTNOBLANK of the one column the expression yields (or NULL); a CASE becomes
        the filter on its conditions' columns under which the column, not NULL, is chosen."""
        if isinstance(node, self.exp.Column):
            return f"DISTINCTCOUNTNOBLANK({self.column(node)})"
        if not isinstance(node, self.exp.Case):
            raise self.refuse("count_distinct of something other than a column or a CASE choosing one column")
        branches = [(branch.args["this"], branch.args["true"]) for branch in node.args["ifs"]]
        default = node.args.get("default")
        chosen, keep, earlier, columns = None, [], [], []
        for condition, value in [*branches, (None, default)]:
            if condition is not None:
                truth, _ = self.truth(condition)
                columns += [c for c in condition.find_all(self.exp.Column)]
            if value is not None and not isinstance(value, self.exp.Null):
                while isinstance(value, self.exp.Paren):
                    value = value.this
                if not isinstance(value, self.exp.Column):
                    raise self.refuse("count_distinct of a CASE whose branches are not one column or NULL")
                if chosen is not None and value.name != chosen.name:
                    raise self.refuse("count_distinct of a CASE choosing between different columns")
                chosen = value
                taken = [f"NOT {t}" if _atomic(t) else f"NOT ({t})" for t in earlier]
                taken += [truth] if condition is not None else []
                keep.append(" && ".join(taken) if taken else "TRUE()")
            if condition is not None:
                earlier.append(truth)
        if chosen is None:
            raise self.refuse("count_distinct of a CASE that is always NULL")
        names = sorted({c.name for c in columns})
        filter_columns = ", ".join(self.column(c) for c in names)
        rows = " || ".join(f"({k})" for k in keep) if len(keep) > 1 else keep[0]
        return (
            f"CALCULATE(DISTINCTCOUNTNOBLANK({self.column(chosen)}), "
            f"KEEPFILTERS(FILTER(ALL({filter_columns}), {rows})))"
        )

    # ------------------------------------------------------------------ values
    def column(self, node) -> str:
        name = node if isinstance(node, str) else node.name
        if not isinstance(node, str) and (node.args.get("table") or node.args.get("db")):
            raise self.refuse(f"a qualified column {node.sql()} (the measure reads its own table)")
        self.kind(name)
        return column_ref(self.table.name, name)

    def kind(self, name: str) -> str:
        try:
            return self.table.column(name).kind
        except KitError as error:
            raise self.refuse(str(error)) from None

    def value(self, node) -> tuple[str, str]:
        exp = self.exp
        if isinstance(node, exp.Paren):
            return self.value(node.this)
        if isinstance(node, exp.Column):
            return self.column(node), self.kind(node.name)
        if isinstance(node, exp.Null):
            return "BLANK()", "null"
        if isinstance(node, exp.Literal) and not node.is_string:
            text = node.name
            if not re.fullmatch(r"\d+(\.\d+)?", text):
                raise self.refuse(f"the number {text}")
            return text, "decimal" if "." in text else "int"
        if isinstance(node, exp.Neg):
            inner, kind = self.value(node.this)
            if kind not in NUMERIC:
                raise self.refuse(f"minus {kind}")
            return (f"-{inner}" if _atomic(inner) else f"-({inner})"), kind
        if isinstance(node, exp.Mul):
            left, left_kind = self.value(node.this)
            right, right_kind = self.value(node.expression)
            if not {left_kind, right_kind} <= NUMERIC:
                raise self.refuse(f"{left_kind} × {right_kind}")
            return f"{left} * {right}", _widest(left_kind, right_kind)
        if isinstance(node, exp.Case):
            return self.case(node)
        raise self.refuse(f"{type(node).__name__} `{node.sql()}` is not one of the translated forms")

    def case(self, node) -> tuple[str, str]:
        branches = [(self.truth(b.args["this"])[0], *self.value(b.args["true"])) for b in node.args["ifs"]]
        default = node.args.get("default")
        otherwise = self.value(default) if default is not None else ("BLANK()", "null")
        kinds = {kind for _, _, kind in branches} | {otherwise[1]}
        kinds.discard("null")
        if len(kinds) > 1 and not kinds <= NUMERIC:
            raise self.refuse(f"a CASE mixing {', '.join(sorted(kinds))}")
        kind = _widest(*kinds) if kinds <= NUMERIC and kinds else (kinds.pop() if kinds else "null")
        tail = "" if otherwise[0] == "BLANK()" else f", {otherwise[0]}"
        if len(branches) == 1:
            ((truth, value, _),) = branches
            return f"IF({truth}, {value}{tail})", kind
        pairs = ", ".join(f"{truth}, {value}" for truth, value, _ in branches)
        return f"SWITCH(TRUE(), {pairs}{tail})", kind

    # -------------------------------------------------------------- conditions
    def truth(self, node) -> tuple[str, str]:
        """(DAX TRUE exactly when the SQL condition is TRUE, DAX TRUE exactly when it is FALSE)."""
        exp = self.exp
        if isinstance(node, exp.Paren):
            return self.truth(node.this)
        if isinstance(node, exp.Not):
            is_true, is_false = self.truth(node.this)
            return is_false, is_true
        if isinstance(node, exp.And | exp.Or):
            left, right = self.truth(node.this), self.truth(node.expression)
            if isinstance(node, exp.And):
                return f"({left[0]} && {right[0]})", f"({left[1]} || {right[1]})"
            return f"({left[0]} || {right[0]})", f"({left[1]} && {right[1]})"
        if isinstance(node, exp.Boolean):
            return ("TRUE()", "FALSE()") if node.this else ("FALSE()", "TRUE()")
        if isinstance(node, exp.Column):
            ref = self.boolean_column(node)
            return ref, f"(NOT ISBLANK({ref}) && NOT {ref})"
        if isinstance(node, exp.Is):
            if not isinstance(node.expression, exp.Null) or not isinstance(node.this, exp.Column):
                raise self.refuse(f"`{node.sql()}` (only `column is [not] null`)")
            ref = self.column(node.this)
            return f"ISBLANK({ref})", f"NOT ISBLANK({ref})"
        if isinstance(node, exp.EQ | exp.NEQ):
            is_true, is_false = self.equals(node)
            return (is_true, is_false) if isinstance(node, exp.EQ) else (is_false, is_true)
        if isinstance(node, exp.In):
            if not isinstance(node.this, exp.Column) or node.args.get("query") or not node.expressions:
                raise self.refuse(f"`{node.sql()}` (only `column in (literals)`)")
            ref = self.column(node.this)
            values = ", ".join(self.literal(node.this, item) for item in node.expressions)
            # IN compares strictly (CONTAINSROW): a BLANK matches no literal
            return f"{ref} IN {{{values}}}", f"(NOT ISBLANK({ref}) && NOT ({ref} IN {{{values}}}))"
        raise self.refuse(f"the condition `{node.sql()}` is not one of the translated forms")

    def boolean_column(self, node) -> str:
        if self.kind(node.name) != "boolean":
            raise self.refuse(f"{node.name} is not a boolean condition")
        return self.column(node)

    def equals(self, node) -> tuple[str, str]:
        """`column = literal`: (TRUE when equal, TRUE when not equal), both FALSE on NULL."""
        exp = self.exp
        column, literal = node.this, node.expression
        if isinstance(literal, exp.Column) and not isinstance(column, exp.Column):
            column, literal = literal, column
        if not isinstance(column, exp.Column) or isinstance(literal, exp.Column):
            raise self.refuse(f"`{node.sql()}` (only `column = literal`)")
        if isinstance(literal, exp.Boolean):
            ref = self.boolean_column(column)
            positive = (ref, f"(NOT ISBLANK({ref}) && NOT {ref})")
            return positive if literal.this else positive[::-1]
        ref, value = self.column(column), self.literal(column, literal)
        # a BLANK equals "" and 0 in DAX: guard those literals
        blank_like = value == '""' or (value[-1].isdigit() and float(value) == 0)
        is_true = f"(NOT ISBLANK({ref}) && {ref} = {value})" if blank_like else f"{ref} = {value}"
        return is_true, f"(NOT ISBLANK({ref}) && {ref} <> {value})"

    def literal(self, column, node) -> str:
        exp = self.exp
        kind = self.kind(column.name)
        if isinstance(node, exp.Literal) and node.is_string and kind == "string":
            accepted = self.table.column(column.name).accepted_values
            if accepted is None:
                raise self.refuse(
                    f"{column.name} = '{node.name}': text comparisons need an accepted_values test on "
                    f"{column.name} (DAX compares text ignoring case)"
                )
            if node.name not in accepted:
                raise self.refuse(f"'{node.name}' is not an accepted value of {column.name}")
            if len({v.lower() for v in accepted}) != len(accepted):
                raise self.refuse(f"the accepted values of {column.name} differ only by case")
            return text_literal(node.name)
        if isinstance(node, exp.Literal) and not node.is_string and kind in NUMERIC:
            value, _ = self.value(node)
            return value
        if isinstance(node, exp.Neg) and kind in NUMERIC:
            value, _ = self.value(node)
            return value
        raise self.refuse(f"`{node.sql()}` compared with the {kind} column {column.name}")


def _atomic(dax: str) -> bool:
    """No operator at the top level: a reference, a number or one function call."""
    depth, quoted = 0, ""
    for char in dax:
        if quoted:
            quoted = "" if char == quoted else quoted
        elif char in "'\"":
            quoted = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == " " and depth == 0:
            return False
    return True


def _widest(*kinds: str) -> str:
    return "double" if "double" in kinds else "decimal" if "decimal" in kinds else "int"


def _amount_kind(kind: str) -> str:
    return WHOLE if kind == "int" else AMOUNT
