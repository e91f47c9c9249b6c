"""`python -m ingest dashboard` / `make dashboard`: serve the Streamlit dashboard on 127.0.0.1."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ingest.dashboard.client import API_ENV, DEFAULT_API

APP = Path(__file__).with_name("app.py")
DEFAULT_PORT = 8501


def streamlit_command(port: int, host: str = "127.0.0.1") -> list[str]:
    """`streamlit run` for the dashboard: local only, headless, no usage statistics, no file watcher."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--server.runOnSave",
        "false",
        "--browser.gatherUsageStats",
        "false",
        "--global.developmentMode",
        "false",
        "--client.toolbarMode",
        "minimal",
    ]


def main(port: int = DEFAULT_PORT, api: str = DEFAULT_API) -> int:
    """Replace this process with Streamlit (so its pid is the dashboard's: stopping it stops all)."""
    print(f"dashboard: http://127.0.0.1:{port} (figures from the API at {api})", flush=True)
    command = streamlit_command(port)
    os.execve(sys.executable, command, {**os.environ, API_ENV: api})
    return 0  # not reached


def add_parser(sub) -> None:
    """`python -m ingest dashboard [--port P] [--api URL]`."""
    p = sub.add_parser("dashboard", help="the Streamlit dashboard over the analytics API")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    p.add_argument("--api", default=DEFAULT_API, help=f"the analytics API's base URL (default {DEFAULT_API})")
    p.set_defaults(func=lambda args: main(port=args.port, api=args.api))
