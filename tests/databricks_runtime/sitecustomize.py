"""Makes a Python process look like a Databricks job cluster to the project's code.

Put this folder on PYTHONPATH of a process that runs a Databricks entry point
(ingest/databricks/bronze_job.py) and:
- a module of the project (`ingest.*`, or the entry file run as `__main__`) that imports a
  third-party package the Databricks Runtime does not ship, and that the task does not
  install as a library, gets ModuleNotFoundError, as it would on the cluster;
  what counts as shipped: DATABRICKS_RUNTIME_SHIPS (comma-separated import names, default
  below), plus DATABRICKS_TASK_LIBRARIES (import names of the task's `libraries`);
- at exit, the process reports which file `import secrets` resolves to, as any library on the
  cluster (databricks-sdk's OAuth, the SQL connector) would import it, on stderr:
  `databricks-runtime: import secrets -> <file>`.
"""

from __future__ import annotations

import atexit
import importlib.abc
import os
import sys

# The Databricks Runtime's Python environment (release notes, "Installed Python libraries")
# holds these; the project's Databricks code may import nothing else unless the task installs it.
SHIPPED_DEFAULT = "pyspark,py4j,pyarrow"


def _names(variable: str, default: str = "") -> frozenset[str]:
    return frozenset(n.strip() for n in os.environ.get(variable, default).split(",") if n.strip())


ALLOWED = _names("DATABRICKS_RUNTIME_SHIPS", SHIPPED_DEFAULT) | _names("DATABRICKS_TASK_LIBRARIES")


def _importer() -> str | None:
    """The module whose code runs the import statement (importlib's own frames skipped)."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if not name.startswith(("importlib", "_frozen_importlib")) and name != __name__:
            return name
        frame = frame.f_back
    return None


class ClusterImports(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        top = fullname.partition(".")[0]
        if "." in fullname or top in sys.stdlib_module_names or top in ALLOWED or top == "ingest":
            return None
        importer = _importer() or ""
        if importer == "__main__" or importer.startswith("ingest"):
            raise ModuleNotFoundError(
                f"{importer} imports {top!r}, which the Databricks Runtime does not ship and the "
                "task does not install (add it to the task's libraries, or do without it)",
                name=top,
            )
        return None


sys.meta_path.insert(0, ClusterImports())


@atexit.register
def _report_secrets_module() -> None:
    import secrets

    print(f"databricks-runtime: import secrets -> {getattr(secrets, '__file__', None)}", file=sys.stderr)
