"""Who may call the analytics API: the key configuration is parsed strictly and never echoes a
key, a presented key is compared against every configured hash, each caller has its own token
bucket, and the settings come from the environment or a secret scope, never exposing a secret."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import traceback

import pytest

from ingest.api import access, auth, lookups
from ingest.api.access import ApiKey
from ingest.api.auth import AuthConfigError, KeyRing, RateLimiter, parse_keys
from ingest.api.config import ApiConfig, DatabricksSettings

POWERBI_KEY = "pbi-key-4f1c2b9a7e"
NOTEBOOK_KEY = "nb-key-0d8e3a6c51"
POWERBI_SHA = hashlib.sha256(POWERBI_KEY.encode()).hexdigest()
NOTEBOOK_SHA = hashlib.sha256(NOTEBOOK_KEY.encode()).hexdigest()


def keys_json(*entries: dict) -> str:
    return json.dumps(list(entries))


def refusal(text: str) -> str:
    """The whole report a refused configuration produces: message and traceback."""
    with pytest.raises(AuthConfigError) as caught:
        parse_keys(text)
    return "".join(traceback.format_exception(caught.value))


# ---------------------------------------------------------------------------- parse_keys
def test_parse_keys_reads_every_entry_with_its_metrics_and_limit():
    parsed = parse_keys(
        keys_json(
            {
                "name": "powerbi",
                "sha256": POWERBI_SHA,
                "metrics": ["net_revenue", "orders"],
                "per_minute": 600,
            },
            {"name": "notebook", "sha256": NOTEBOOK_SHA},
        )
    )
    assert parsed == (
        ApiKey("powerbi", POWERBI_SHA, frozenset({"net_revenue", "orders"}), 600),
        ApiKey("notebook", NOTEBOOK_SHA, None, None),
    )


@pytest.mark.parametrize("text", [None, "", "   \n"])
def test_no_key_configuration_means_no_keys(text):
    assert parse_keys(text) == ()


def test_a_key_limited_to_metrics_may_read_only_those():
    limited, full = parse_keys(
        keys_json(
            {"name": "powerbi", "sha256": POWERBI_SHA, "metrics": ["orders"]},
            {"name": "notebook", "sha256": NOTEBOOK_SHA},
        )
    )
    assert limited.may_read("orders")
    assert not limited.may_read("net_revenue")
    assert full.may_read("net_revenue")


def test_a_key_pasted_instead_of_json_is_refused_without_echoing_it():
    report = refusal(POWERBI_KEY)
    assert "not JSON" in report
    assert POWERBI_KEY not in report


def test_json_that_is_not_a_list_is_refused():
    report = refusal(json.dumps({"name": "powerbi", "sha256": POWERBI_SHA}))
    assert "must be a JSON list" in report


@pytest.mark.parametrize("entry", [{"sha256": POWERBI_SHA}, {"name": 7, "sha256": POWERBI_SHA}, "powerbi"])
def test_an_entry_without_a_name_is_refused(entry):
    report = refusal(json.dumps([{"name": "notebook", "sha256": NOTEBOOK_SHA}, entry]))
    assert "entry 1 needs a name" in report


@pytest.mark.parametrize(
    "digest",
    [
        pytest.param(POWERBI_KEY, id="the-key-itself"),
        pytest.param(secrets.token_urlsafe(48), id="a-64-character-key"),
        pytest.param(POWERBI_SHA.upper(), id="uppercase-hex"),
        pytest.param(POWERBI_SHA[:63], id="63-digits"),
        pytest.param(None, id="missing"),
    ],
)
def test_a_sha256_that_is_not_64_lowercase_hex_is_refused_without_echoing_it(digest):
    entry = {"name": "powerbi"} if digest is None else {"name": "powerbi", "sha256": digest}
    report = refusal(keys_json(entry))
    assert "'powerbi'" in report
    assert "sha256 must be 64 lowercase hex digits" in report
    if digest:
        assert digest not in report
        assert digest[:16] not in report


@pytest.mark.parametrize("metrics", ["net_revenue", ["net_revenue", 3], {"net_revenue": True}])
def test_metrics_that_are_not_a_list_of_names_are_refused(metrics):
    report = refusal(keys_json({"name": "powerbi", "sha256": POWERBI_SHA, "metrics": metrics}))
    assert "metrics must be a list of names" in report
    assert POWERBI_SHA not in report


@pytest.mark.parametrize("per_minute", [0, -5, "600", 1.5])
def test_a_per_minute_that_is_not_a_positive_integer_is_refused(per_minute):
    report = refusal(keys_json({"name": "powerbi", "sha256": POWERBI_SHA, "per_minute": per_minute}))
    assert "per_minute must be a positive integer" in report


def test_a_boolean_per_minute_is_refused():
    refusal(keys_json({"name": "powerbi", "sha256": POWERBI_SHA, "per_minute": True}))


# ---------------------------------------------------------------------------- KeyRing
@pytest.fixture
def ring() -> KeyRing:
    return KeyRing(
        (
            ApiKey("powerbi", POWERBI_SHA),
            ApiKey("notebook", NOTEBOOK_SHA),
            ApiKey("spare", hashlib.sha256(b"spare-key-77").hexdigest()),
        )
    )


def test_the_right_key_identifies_its_entry(ring):
    assert ring.identify(NOTEBOOK_KEY).name == "notebook"
    assert ring.identify(POWERBI_KEY).name == "powerbi"


@pytest.mark.parametrize("presented", [None, "", "pbi-key-4f1c2b9a7f", POWERBI_SHA, " " + POWERBI_KEY])
def test_a_wrong_or_missing_key_identifies_nobody(ring, presented):
    assert ring.identify(presented) is None


@pytest.mark.parametrize("presented", [POWERBI_KEY, "not-a-key"])
def test_a_presented_key_is_compared_with_every_configured_key(ring, monkeypatch, presented):
    compared = []
    real = hmac.compare_digest

    def counting(a, b):
        compared.append(b)
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    ring.identify(presented)
    assert compared == [key.sha256.encode() for key in ring.keys]


def test_no_keys_is_the_open_keyless_mode():
    assert KeyRing(()).open
    assert not KeyRing((ApiKey("powerbi", POWERBI_SHA),)).open


# ---------------------------------------------------------------------------- RateLimiter
def test_n_requests_a_minute_go_ahead_and_the_next_waits_about_60_over_n_seconds():
    limiter = RateLimiter(default_per_minute=6)
    assert [limiter.take("powerbi", now=100.0) for _ in range(6)] == [0.0] * 6
    wait = limiter.take("powerbi", now=100.0)
    assert wait == pytest.approx(10.0, abs=0.01)


def test_the_wait_shrinks_as_time_passes_and_a_token_comes_back_after_it():
    limiter = RateLimiter(default_per_minute=6)
    for _ in range(6):
        limiter.take("powerbi", now=0.0)
    assert limiter.take("powerbi", now=4.0) == pytest.approx(6.0, abs=0.01)
    assert limiter.take("powerbi", now=10.0) == 0.0
    assert limiter.take("powerbi", now=10.0) > 0


def test_a_bucket_refills_to_a_burst_of_n_not_more():
    limiter = RateLimiter(default_per_minute=5)
    for _ in range(5):
        limiter.take("powerbi", now=0.0)
    later = [limiter.take("powerbi", now=3600.0) for _ in range(6)]
    assert later[:5] == [0.0] * 5
    assert later[5] > 0


def test_a_wait_is_never_zero_when_a_request_is_refused():
    limiter = RateLimiter(default_per_minute=60)
    for _ in range(60):
        limiter.take("powerbi", now=0.0)
    wait = limiter.take("powerbi", now=0.9999999)
    assert 0 < wait <= 0.01


def test_a_per_key_limit_replaces_the_default():
    limiter = RateLimiter(default_per_minute=1000)
    assert [limiter.take("slow", per_minute=2, now=0.0) for _ in range(2)] == [0.0, 0.0]
    assert limiter.take("slow", per_minute=2, now=0.0) == pytest.approx(30.0, abs=0.01)


def test_each_caller_has_its_own_bucket():
    limiter = RateLimiter(default_per_minute=3)
    for _ in range(3):
        limiter.take("powerbi", now=0.0)
    assert limiter.take("powerbi", now=0.0) > 0
    assert [limiter.take("notebook", now=0.0) for _ in range(3)] == [0.0] * 3
    assert limiter.take("notebook", now=0.0) > 0


# ---------------------------------------------------------------------------- ApiConfig.from_env
class FakeSecrets:
    """A secret store: values by (scope, key); records what was asked."""

    def __init__(self, values: dict[tuple[str, str], str]) -> None:
        self.values = values
        self.asked: list[tuple[str, str]] = []

    def get(self, scope: str, key: str) -> str:
        self.asked.append((scope, key))
        return self.values[(scope, key)]


DATABRICKS_ENV = {
    "LAKEHOUSE_API_ENGINE": "databricks",
    "DATABRICKS_HOST": "https://adb-1234.5.azuredatabricks.net/",
    "DATABRICKS_HTTP_PATH": "/sql/1.0/warehouses/abc123",
}
TOKEN = "dapi0123456789abcdef-from-env"
SCOPE_TOKEN = "dapiffffffffffffffff-from-scope"


def from_env(environ: dict[str, str], secrets_store: FakeSecrets | None = None) -> ApiConfig:
    return ApiConfig.from_env(None, None, environ=environ, secrets=secrets_store)


def test_keys_come_from_the_environment():
    config = from_env({"LAKEHOUSE_API_KEYS": keys_json({"name": "powerbi", "sha256": POWERBI_SHA})})
    assert config.keys == (ApiKey("powerbi", POWERBI_SHA),)
    assert not config.keyless


def test_without_keys_or_scope_the_config_is_keyless():
    store = FakeSecrets({})
    config = from_env({}, store)
    assert config.keyless
    assert store.asked == []


def test_the_databricks_token_and_settings_come_from_the_environment():
    config = from_env({**DATABRICKS_ENV, "DATABRICKS_TOKEN": TOKEN, "DATABRICKS_CATALOG": "orders_prod"})
    assert config.engine == "databricks"
    assert config.databricks == DatabricksSettings(
        host="adb-1234.5.azuredatabricks.net",
        http_path="/sql/1.0/warehouses/abc123",
        token=TOKEN,
        catalog="orders_prod",
    )


def test_secrets_come_from_the_secret_scope_when_one_is_named():
    store = FakeSecrets(
        {
            ("lakehouse-api", "api-keys"): keys_json({"name": "powerbi", "sha256": POWERBI_SHA}),
            ("lakehouse-api", "databricks-token"): SCOPE_TOKEN,
        }
    )
    config = from_env({**DATABRICKS_ENV, "LAKEHOUSE_API_SECRET_SCOPE": "lakehouse-api"}, store)
    assert [key.name for key in config.keys] == ["powerbi"]
    assert config.databricks is not None
    assert config.databricks.token == SCOPE_TOKEN
    assert sorted(store.asked) == [("lakehouse-api", "api-keys"), ("lakehouse-api", "databricks-token")]


def test_the_environment_wins_over_the_secret_scope():
    store = FakeSecrets(
        {
            ("lakehouse-api", "api-keys"): keys_json({"name": "from-scope", "sha256": NOTEBOOK_SHA}),
            ("lakehouse-api", "databricks-token"): SCOPE_TOKEN,
        }
    )
    config = from_env(
        {
            **DATABRICKS_ENV,
            "LAKEHOUSE_API_SECRET_SCOPE": "lakehouse-api",
            "LAKEHOUSE_API_KEYS": keys_json({"name": "from-env", "sha256": POWERBI_SHA}),
            "DATABRICKS_TOKEN": TOKEN,
        },
        store,
    )
    assert [key.name for key in config.keys] == ["from-env"]
    assert config.databricks.token == TOKEN
    assert store.asked == []


def test_a_secret_scope_without_a_store_gives_no_secrets():
    config = from_env({"LAKEHOUSE_API_SECRET_SCOPE": "lakehouse-api"})
    assert config.keyless


def test_check_refuses_keyless_on_every_interface():
    config = from_env({"LAKEHOUSE_API_HOST": "0.0.0.0"})
    with pytest.raises(AuthConfigError, match="without API keys"):
        config.check()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_check_allows_keyless_on_loopback(host):
    ApiConfig(host=host).check()


def test_check_allows_every_interface_with_keys():
    ApiConfig(host="0.0.0.0", keys=(ApiKey("powerbi", POWERBI_SHA),)).check()


@pytest.mark.parametrize(
    "environ",
    [
        pytest.param({"LAKEHOUSE_API_ENGINE": "databricks"}, id="nothing"),
        pytest.param({**DATABRICKS_ENV}, id="no-token"),
        pytest.param({"LAKEHOUSE_API_ENGINE": "databricks", "DATABRICKS_TOKEN": TOKEN}, id="no-host"),
    ],
)
def test_check_refuses_databricks_without_its_settings(environ):
    config = from_env(environ)
    assert config.databricks is None
    with pytest.raises(AuthConfigError, match="engine databricks needs"):
        config.check()


def test_the_token_is_not_in_the_repr():
    config = from_env({**DATABRICKS_ENV, "DATABRICKS_TOKEN": TOKEN})
    assert TOKEN not in repr(config)
    assert TOKEN not in repr(config.databricks)
    assert TOKEN not in str(config)


def test_a_caller_named_twice_is_refused():
    twice = [{"name": "powerbi", "sha256": POWERBI_SHA}, {"name": "powerbi", "sha256": "0" * 64}]
    assert "given twice" in refusal(json.dumps(twice))


# ---------------------------------------------------------------------------- scopes, row scopes (issue 20)
def test_scopes_and_rows_are_read_with_the_key():
    (key,) = parse_keys(
        keys_json(
            {
                "name": "europe",
                "sha256": POWERBI_SHA,
                "metrics": ["net_revenue"],
                "scopes": ["orders:read"],
                "rows": {
                    "country__region": "Europe",
                    "country__country_name": ["France", "Germany", "France"],
                },
            }
        )
    )
    assert key.scopes == frozenset({"orders:read"})
    assert key.rows == (("country__country_name", ("France", "Germany")), ("country__region", ("Europe",)))
    assert access.scopes(key) == {"orders:read"}


def test_without_scopes_a_full_key_has_every_scope_and_a_metric_limited_key_none():
    full, limited = parse_keys(
        keys_json(
            {"name": "notebook", "sha256": NOTEBOOK_SHA},
            {"name": "powerbi", "sha256": POWERBI_SHA, "metrics": ["net_revenue"]},
        )
    )
    assert access.scopes(full) == {"orders:read", "quality:read"}
    assert access.scopes(limited) == frozenset()
    assert access.scopes(None) == {"orders:read", "quality:read"}  # the keyless local mode
    with pytest.raises(access.Denied, match="orders:read"):
        access.require(limited, "orders:read")


def test_a_row_scoped_key_never_has_quality_read():
    (rows,) = parse_keys(
        keys_json({"name": "fr", "sha256": POWERBI_SHA, "rows": {"country__iso_code": ["FR"]}})
    )
    assert access.scopes(rows) == {"orders:read"}
    report = refusal(
        keys_json(
            {
                "name": "fr",
                "sha256": POWERBI_SHA,
                "scopes": ["quality:read"],
                "rows": {"country__iso_code": "FR"},
            }
        )
    )
    assert "cannot be limited by rows" in report


@pytest.mark.parametrize(
    ("rows", "says"),
    [
        pytest.param(["Europe"], "rows must be an object", id="a-list"),
        pytest.param({}, "rows must be an object", id="empty"),
        pytest.param({"customer__customer_no": ["12000"]}, "rows may limit", id="not-a-country-dimension"),
        pytest.param({"country__region": []}, "1 to 100 non-empty names", id="no-values"),
        pytest.param({"country__region": [""]}, "1 to 100 non-empty names", id="blank"),
        pytest.param({"country__region": [3]}, "1 to 100 non-empty names", id="a-number"),
        pytest.param({"country__region": ["x"] * 101}, "1 to 100 non-empty names", id="too-many"),
    ],
)
def test_a_row_scope_that_cannot_be_used_is_refused_at_start(rows, says):
    report = refusal(keys_json({"name": "europe", "sha256": POWERBI_SHA, "rows": rows}))
    assert "'europe'" in report and says in report
    assert POWERBI_SHA not in report


@pytest.mark.parametrize(
    ("scopes", "says"),
    [("orders:read", "scopes must be a list"), (["orders:write"], "unknown scope 'orders:write'")],
)
def test_scopes_that_cannot_be_used_are_refused(scopes, says):
    assert says in refusal(keys_json({"name": "powerbi", "sha256": POWERBI_SHA, "scopes": scopes}))


def test_a_misspelt_field_is_refused_rather_than_ignored():
    """`row` for `rows` would otherwise give the key every row."""
    report = refusal(
        keys_json({"name": "powerbi", "sha256": POWERBI_SHA, "row": {"country__region": "Europe"}})
    )
    assert "unknown field 'row'" in report


def test_row_scopes_come_from_the_environment_and_a_bad_one_stops_the_start():
    entry = {"name": "europe", "sha256": POWERBI_SHA, "rows": {"country__region": ["Europe"]}}
    config = from_env({"LAKEHOUSE_API_KEYS": keys_json(entry)})
    assert config.keys[0].rows == (("country__region", ("Europe",)),)
    with pytest.raises(AuthConfigError, match="rows may limit"):
        from_env({"LAKEHOUSE_API_KEYS": keys_json({**entry, "rows": {"region": "Europe"}})})


def test_identifier_dimensions_need_the_metric_their_groups_count():
    revenue = ApiKey("powerbi", POWERBI_SHA, frozenset({"net_revenue"}))
    with pytest.raises(access.Denied, match="sales_line__transaction_no"):
        access.check_query(revenue, ["net_revenue"], ["sales_line__transaction_no"], [])
    with pytest.raises(access.Denied, match="customer__customer_no"):
        access.check_query(revenue, ["net_revenue"], [], ["customer__customer_no"])
    access.check_query(revenue, ["net_revenue"], ["country__region"], ["country__country_name"])
    both = ApiKey("powerbi", POWERBI_SHA, frozenset({"net_revenue", "orders"}))
    access.check_query(both, ["net_revenue"], ["sales_line__transaction_no"], [])
    access.check_query(None, ["net_revenue"], ["customer__customer_no"], [])


class _Backend:
    def relation(self, schema: str, name: str) -> str:
        return f'"{schema}"."{name}"'

    def placeholder(self, key: str) -> str:
        return f"${key}"


@pytest.mark.parametrize("sql_of", [lookups.order_lines_sql, lookups.freshness_sql])
def test_a_row_scope_is_bound_into_the_lookups_never_written_into_them(sql_of):
    hostile = "France') or 1=1 --"
    sql, params = sql_of(_Backend(), (("country__country_name", ("Germany", hostile)),))
    assert hostile not in sql and "Germany" not in sql
    assert "scope_country.country_name in ($row_scope_0, $row_scope_1)" in sql
    assert params == {"row_scope_0": "Germany", "row_scope_1": hostile}
    unscoped, none = sql_of(_Backend())
    assert none == {} and "scope_country" not in unscoped
