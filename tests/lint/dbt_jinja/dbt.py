"""dbt's cross-database macros (`dbt.date_trunc`, ...) used by this project, rendered as
dbt-databricks 1.12 renders them on a current runtime (include/databricks/macros/utils)."""

from __future__ import annotations


def date_trunc(datepart: str, date: str) -> str:
    return f"date_trunc('{datepart}', {date})"


def dateadd(datepart: str, interval: object, from_date_or_timestamp: str) -> str:
    return f"timestampadd({datepart}, {interval}, {from_date_or_timestamp})"


def datediff(first_date: str, second_date: str, datepart: str) -> str:
    first, second = date_trunc(datepart, first_date), date_trunc(datepart, second_date)
    return f"timestampdiff({datepart}, {first}, {second})"


def hash(field: str) -> str:
    return f"md5(cast({field} as string))"
