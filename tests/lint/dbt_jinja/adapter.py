"""`adapter.dispatch` as dbt resolves it on the databricks adapter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context

# dbt-databricks' search order: its own variant, then dbt-spark's, then the default.
DISPATCH_ORDER = ("databricks__", "spark__", "default__")


@pass_context
def dispatch(context: Context, macro_name: str, macro_namespace: str | None = None) -> Callable[..., Any]:
    for prefix in DISPATCH_ORDER:
        macro = context.get(prefix + macro_name)
        if macro is not None:
            return macro
    raise LookupError(f"no databricks__, spark__ or default__ variant of macro {macro_name!r}")
