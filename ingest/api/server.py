"""`python -m ingest api` / `make api`: serve the analytics API with uvicorn."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ingest.api.auth import AuthConfigError, new_key
from ingest.api.config import ApiConfig
from ingest.paths import PROJECT_DIR, DataDir


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


def build(config: ApiConfig):
    """The app for `config`: its semantic layer and backend."""
    from ingest.api.app import create_app
    from ingest.api.backends import DatabricksBackend, DuckDbBackend
    from ingest.semantic import SemanticLayer

    if config.engine == "databricks":
        backend = DatabricksBackend(config.databricks)
    else:
        backend = DuckDbBackend(config.warehouse)
    layer = SemanticLayer.load(config.semantic_manifest, config.engine, backend.database, {})
    return create_app(config, layer, backend)


def main(host: str | None = None, port: int | None = None) -> int:
    import uvicorn

    data = DataDir.from_env()
    try:
        config = ApiConfig.from_env(data.warehouse, semantic_manifest(data), host=host, port=port)
        config.check()
    except AuthConfigError as exc:
        print(f"api: {exc}", file=sys.stderr)
        return 2
    app = build(config)
    base = f"http://{config.host}:{config.port}"
    if config.keyless:
        print(
            f"api: keyless local mode: no LAKEHOUSE_API_KEYS, so anyone on this machine can read; "
            f"bound to {config.host} only",
            flush=True,
        )
    else:
        print(f"api: {len(config.keys)} API key(s) configured", flush=True)
    print(f"api: {config.engine} backend; serving {base}/v1/... (OpenAPI: {base}/docs)", flush=True)
    uvicorn.run(app, host=config.host, port=config.port, log_level="warning", access_log=False)
    return 0


def print_new_key() -> int:
    key, digest = new_key()
    print(f"key (give it to the caller, keep it nowhere else): {key}")
    print(f'entry for LAKEHOUSE_API_KEYS: {{"name": "CALLER", "sha256": "{digest}"}}')
    return 0
