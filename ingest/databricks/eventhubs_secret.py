"""The Event Hubs connection string on Databricks: where it comes from, and never shown.

Order of lookup:
1. the environment variable `EVENTHUBS_CONNECTION_STRING`, which the job cluster sets from a
   secret reference (`spark_env_vars: {EVENTHUBS_CONNECTION_STRING: "{{secrets/<scope>/<key>}}"}`);
2. `dbutils.secrets.get(scope, key)` when the variable is absent (or holds a secret reference
   Databricks did not resolve) and dbutils is available, scope and key given by the job's
   parameters or by `EVENTHUBS_SECRET_SCOPE` / `EVENTHUBS_SECRET_KEY`.
Never from a file. What is reported is where the value came from, never the value.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

ENV_VAR = "EVENTHUBS_CONNECTION_STRING"
SCOPE_ENV_VAR = "EVENTHUBS_SECRET_SCOPE"
KEY_ENV_VAR = "EVENTHUBS_SECRET_KEY"
REDACTED = "[REDACTED]"


class SecretsUtil(Protocol):
    def get(self, scope: str, key: str) -> str: ...


class DBUtilsLike(Protocol):
    secrets: SecretsUtil


class SecretNotFoundError(RuntimeError):
    """No connection string from either source; the message says what to set."""


@dataclass(frozen=True)
class SecretRef:
    scope: str
    key: str

    def __str__(self) -> str:
        return f"{self.scope}/{self.key}"

    @classmethod
    def from_args(cls, scope: str | None, key: str | None, env: Mapping[str, str]) -> SecretRef | None:
        scope = scope or env.get(SCOPE_ENV_VAR) or None
        key = key or env.get(KEY_ENV_VAR) or None
        return cls(scope, key) if scope and key else None


@dataclass(frozen=True)
class ResolvedSecret:
    value: str = field(repr=False)
    origin: str  # e.g. "environment variable EVENTHUBS_CONNECTION_STRING"

    def __str__(self) -> str:
        return f"<secret from {self.origin}>"


def _is_unresolved_reference(value: str) -> bool:
    return value.strip().startswith("{{secrets/")


def resolve_connection_string(
    ref: SecretRef | None,
    dbutils: DBUtilsLike | None,
    env: Mapping[str, str],
) -> ResolvedSecret:
    """The connection string, from the environment `env` first, then the secret scope."""
    from_env = (env.get(ENV_VAR) or "").strip()
    if from_env and not _is_unresolved_reference(from_env):
        return ResolvedSecret(from_env, f"environment variable {ENV_VAR}")
    if ref is not None and dbutils is not None:
        value = dbutils.secrets.get(scope=ref.scope, key=ref.key)
        if value:
            return ResolvedSecret(value, f"secret scope {ref} (dbutils.secrets.get)")
        raise SecretNotFoundError(f"secret {ref} is empty")
    why = []
    if from_env:
        why.append(f"{ENV_VAR} holds a secret reference Databricks did not resolve")
    else:
        why.append(f"{ENV_VAR} is not set")
    if ref is None:
        why.append(
            f"no secret scope/key given (--secret-scope/--secret-key or {SCOPE_ENV_VAR}/{KEY_ENV_VAR})"
        )
    if dbutils is None:
        why.append("dbutils is not available (not on a Databricks cluster)")
    raise SecretNotFoundError("no Event Hubs connection string: " + "; ".join(why))


def get_dbutils(spark: Any) -> DBUtilsLike | None:
    """dbutils on a Databricks cluster (a Python file task has no `dbutils` global); None elsewhere."""
    if not os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        return None
    try:
        from pyspark.dbutils import DBUtils  # present only in the Databricks Runtime
    except ImportError:
        return None
    return DBUtils(spark)


def secret_fragments(secret: str) -> list[str]:
    """The strings to hide: the whole connection string and its SharedAccessKey."""
    fragments = [secret]
    for part in secret.split(";"):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "sharedaccesskey" and value:
            fragments.append(value)
    return [f for f in fragments if f]


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every fragment of every secret replaced by [REDACTED]."""
    fragments = sorted({f for s in secrets if s for f in secret_fragments(s)}, key=len, reverse=True)
    for fragment in fragments:
        text = text.replace(fragment, REDACTED)
    return text
