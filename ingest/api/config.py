"""The analytics API's settings: built once at the entry point, from the environment (and a
Databricks secret scope for secrets in production), then passed down."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ingest.api.access import ApiKey
from ingest.api.auth import AuthConfigError, parse_keys
from ingest.api.cache import MiB, default_budget

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
DEFAULT_PORT = 8300


class SecretsLike:
    """What the API needs of a secret store: Databricks' `w.secrets.get_secret` or dbutils."""

    def get(self, scope: str, key: str) -> str: ...


@dataclass(frozen=True)
class DatabricksSettings:
    host: str
    http_path: str
    token: str = field(repr=False)
    catalog: str = "orders"


@dataclass(frozen=True)
class EventHubsSettings:
    """Where the health answer measures Bronze's lag (ingest/databricks/eventhubs_lag.py): the
    event hub Bronze reads, and the Bronze table whose offsets are compared with it."""

    connection_string: str = field(repr=False)
    eventhub_name: str = "sales-transactions-raw"  # the Kafka topic Bronze subscribes to
    bronze_table: str | None = None  # None: `<catalog>`.`bronze`.`sales_transactions`
    consumer_group: str = "$Default"
    ttl_s: float = 30.0  # a measurement is reused this long
    timeout_s: float = 10.0  # the health answer waits this long for a measurement


@dataclass(frozen=True)
class ApiConfig:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    engine: str = "duckdb"  # or databricks
    warehouse: Path | None = None  # DuckDB: the warehouse whose published copies are served
    semantic_manifest: Path | None = None
    keys: tuple[ApiKey, ...] = ()
    per_minute: int = 1200  # default rate limit per caller
    max_limit: int = 10_000  # largest page
    row_cap: int = 100_000  # largest result a query may have before paging
    timeout_s: float = 10.0  # a query running longer is cancelled: 503
    # answers kept until the next Gold build, at most this many bytes in all (LRU); an answer over
    # cache.ENTRY_FRACTION (1/8) of it is not kept. Default: 2% of physical memory, at most 256 MiB
    cache_bytes: int = field(default_factory=default_budget)
    max_body_bytes: int = 64 * 1024  # a request body over this is refused (413) before it is parsed
    auth_failures: int = 10  # wrong keys from one address within auth_window_s: then 429 until it ends
    auth_window_s: float = 60.0
    auth_addresses: int = 10_000  # addresses with failures remembered (the oldest forgotten first)
    databricks: DatabricksSettings | None = None
    eventhubs: EventHubsSettings | None = None  # Bronze's lag in /v1/health (Databricks only)

    @property
    def keyless(self) -> bool:
        return not self.keys

    def check(self) -> None:
        """Refuse settings that would expose data: keyless only on the loopback interface."""
        if self.keyless and self.host not in LOCAL_HOSTS:
            raise AuthConfigError(
                f"refusing to serve {self.host} without API keys: set LAKEHOUSE_API_KEYS "
                "(or bind to 127.0.0.1 for the keyless local mode)"
            )
        if self.engine == "databricks" and self.databricks is None:
            raise AuthConfigError("engine databricks needs DATABRICKS_HOST, DATABRICKS_HTTP_PATH and a token")

    @classmethod
    def from_env(
        cls,
        warehouse: Path | None,
        semantic_manifest: Path | None,
        host: str | None = None,
        port: int | None = None,
        environ: dict[str, str] | None = None,
        secrets: SecretsLike | None = None,
    ) -> ApiConfig:
        """LAKEHOUSE_API_* settings; secrets (keys, the Databricks token) from the environment,
        else from the secret scope LAKEHOUSE_API_SECRET_SCOPE (keys `api-keys`, `databricks-token`).

        On Databricks, with EVENTHUBS_CONNECTION_STRING in the environment, /v1/health also
        reports Bronze's lag against the event hub: KAFKA_TOPIC (else the connection string's
        EntityPath, else sales-transactions-raw) names it, BRONZE_TABLE_PATH the Bronze table
        (else `<catalog>.bronze.sales_transactions`), LAKEHOUSE_API_LAG_TTL_S and
        LAKEHOUSE_API_LAG_TIMEOUT_S how often it is measured and how long health waits for it."""
        env = os.environ if environ is None else environ
        scope = env.get("LAKEHOUSE_API_SECRET_SCOPE")

        def secret(var: str, key: str) -> str | None:
            if env.get(var):
                return env[var]
            if scope and secrets is not None:
                return secrets.get(scope, key)
            return None

        engine = env.get("LAKEHOUSE_API_ENGINE", "duckdb")
        databricks = None
        if engine == "databricks":
            token = secret("DATABRICKS_TOKEN", "databricks-token")
            if env.get("DATABRICKS_HOST") and env.get("DATABRICKS_HTTP_PATH") and token:
                databricks = DatabricksSettings(
                    host=env["DATABRICKS_HOST"].removeprefix("https://").rstrip("/"),
                    http_path=env["DATABRICKS_HTTP_PATH"],
                    token=token,
                    catalog=env.get("DATABRICKS_CATALOG", "orders"),
                )
        eventhubs = None
        if engine == "databricks":
            # From the environment only (a cluster or app sets it from a secret reference):
            # the lag is optional, so a missing secret must not stop the API.
            connection_string = env.get("EVENTHUBS_CONNECTION_STRING", "").strip()
            if connection_string and not connection_string.startswith("{{secrets/"):
                eventhubs = EventHubsSettings(
                    connection_string=connection_string,
                    eventhub_name=env.get("KAFKA_TOPIC")
                    or _entity_path(connection_string)
                    or EventHubsSettings.eventhub_name,
                    bronze_table=env.get("BRONZE_TABLE_PATH") or None,
                    ttl_s=_number(env, "LAKEHOUSE_API_LAG_TTL_S", EventHubsSettings.ttl_s, float),
                    timeout_s=_number(env, "LAKEHOUSE_API_LAG_TIMEOUT_S", EventHubsSettings.timeout_s, float),
                )
        return cls(
            host=host or env.get("LAKEHOUSE_API_HOST", "127.0.0.1"),
            port=port or _number(env, "LAKEHOUSE_API_PORT", DEFAULT_PORT, int),
            engine=engine,
            warehouse=warehouse,
            semantic_manifest=semantic_manifest,
            keys=parse_keys(secret("LAKEHOUSE_API_KEYS", "api-keys")),
            per_minute=_number(env, "LAKEHOUSE_API_PER_MINUTE", 1200, int),
            timeout_s=_number(env, "LAKEHOUSE_API_TIMEOUT_S", 10.0, float),
            max_body_bytes=_number(env, "LAKEHOUSE_API_MAX_BODY_BYTES", cls.max_body_bytes, int),
            cache_bytes=_cache_bytes(env),
            auth_failures=_number(env, "LAKEHOUSE_API_AUTH_FAILURES", cls.auth_failures, int),
            auth_window_s=_number(env, "LAKEHOUSE_API_AUTH_WINDOW_S", cls.auth_window_s, float),
            databricks=databricks,
            eventhubs=eventhubs,
        )


def _entity_path(connection_string: str) -> str | None:
    """The event hub a connection string is scoped to (`EntityPath=`), if any."""
    for part in connection_string.split(";"):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "entitypath" and value.strip():
            return value.strip()
    return None


def _cache_bytes(env) -> int:
    """LAKEHOUSE_API_CACHE_MB (MiB, fractions allowed; 0 keeps nothing), else `default_budget()`."""
    text = env.get("LAKEHOUSE_API_CACHE_MB", "").strip()
    if not text:
        return default_budget()
    try:
        megabytes = float(text)
    except ValueError:
        raise AuthConfigError(f"LAKEHOUSE_API_CACHE_MB must be a number, not {text!r}") from None
    if not megabytes >= 0 or megabytes == float("inf"):
        raise AuthConfigError(f"LAKEHOUSE_API_CACHE_MB must be 0 or more, not {text!r}")
    return int(megabytes * MiB)


def _number(env, name: str, default, kind):
    try:
        value = kind(env.get(name, default))
    except ValueError:
        raise AuthConfigError(f"{name} must be a number, not {env[name]!r}") from None
    if value <= 0:
        raise AuthConfigError(f"{name} must be positive, not {env[name]!r}")
    return value
