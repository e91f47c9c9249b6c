"""`python -m ingest api` / `make api`: serve the analytics API with uvicorn."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ingest.api.auth import AuthConfigError, new_key
from ingest.api.config import ApiConfig
from ingest.paths import PROJECT_DIR, DataDir
from ingest.semantic import semantic_manifest


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(port: int, server: subprocess.Popen, timeout_s: float = 120.0) -> None:
    """Until the API started as `server` answers /healthz; RuntimeError if it exits first."""
    import http.client
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            err = server.stderr.read()[-2000:] if server.stderr else ""
            raise RuntimeError(f"the API exited ({server.returncode}): {err}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"the API did not answer on port {port} within {timeout_s:.0f} s")


def spawn(env: dict, port: int, cwd: Path = PROJECT_DIR) -> subprocess.Popen:
    """`python -m ingest api` on 127.0.0.1:`port` as its own process, once it answers /healthz
    (stopped again if it does not). The caller terminates it."""
    server = subprocess.Popen(
        [sys.executable, "-m", "ingest", "api", "--port", str(port)],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_ready(port, server)
    except BaseException:
        server.kill()
        server.wait(timeout=30)
        raise
    return server


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


def add_parser(sub) -> None:
    """`python -m ingest api [serve|hash-key|publish]` (its benchmark: `python -m ingest bench --api`)."""
    p = sub.add_parser("api", help="the analytics API (metrics of the semantic layer over HTTP)")
    p.add_argument("action", nargs="?", default="serve", choices=("serve", "hash-key", "publish"))
    p.add_argument("--host", default=None, help="default 127.0.0.1 (LAKEHOUSE_API_HOST)")
    p.add_argument("--port", type=int, default=None, help="default 8300 (LAKEHOUSE_API_PORT)")
    p.set_defaults(func=_cmd_api)


def _cmd_api(args) -> int:
    if args.action == "hash-key":
        return print_new_key()
    if args.action == "publish":
        from ingest.local import serving

        data = DataDir.from_env()
        snapshot = serving.publish(data.warehouse)
        print(f"api: published {snapshot.path} for readers")
        return 0
    return main(host=args.host, port=args.port)
