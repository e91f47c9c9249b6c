"""The kit's files: the Power BI project (the .pbip, the semantic model folder with its TMDL
definition, a one-page report bound to it by path) and a .pbids connection file per bundle target,
as {path below powerbi/: text}; written to a folder, or compared with one.

The committed kit carries placeholder workspace values (no host of any real workspace, never a
credential); `.pbids` with a real host and HTTP path go to connections/local/, which git ignores.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import yaml

from ingest.powerbi import KitError, tmdl
from ingest.powerbi.dax import DaxMeasure
from ingest.powerbi.layer import GoldModel

KIT = "OrdersLakehouse"
SCHEMAS = "https://developer.microsoft.com/json-schemas/fabric"
LOCAL_DIR = "connections/local"
# Files Power BI Desktop writes for the local user, and .pbids with real hosts: never compared.
LOCAL_FILES = (re.compile(r"(^|/)\.pbi/(localSettings\.json|cache\.abf)$"), re.compile(f"^{LOCAL_DIR}/"))


@dataclass(frozen=True)
class Warehouse:
    """A Databricks SQL warehouse as Power BI addresses it (Connection details tab)."""

    host: str
    http_path: str

    @classmethod
    def of(cls, host: str, http_path: str) -> Warehouse:
        host = re.sub(r"^https?://", "", host.strip()).rstrip("/")
        http_path = "/" + http_path.strip().lstrip("/")
        if not re.fullmatch(r"[A-Za-z0-9.-]+", host):
            raise KitError(
                f"host {host!r}: expected the warehouse's server hostname (adb-<id>.<n>.azuredatabricks.net)"
            )
        if not http_path.startswith("/sql/"):
            raise KitError(
                f"http path {http_path!r}: expected the warehouse's HTTP path, /sql/1.0/warehouses/<id>"
            )
        return cls(host, http_path)


PLACEHOLDER = Warehouse("adb-0000000000000000.0.azuredatabricks.net", "/sql/1.0/warehouses/0000000000000000")


@dataclass(frozen=True)
class BundleTargets:
    """Catalog of each Databricks bundle target (databricks.yml), and the production one's name."""

    catalogs: dict[str, str]
    production: str

    @classmethod
    def read(cls, bundle_file: Path) -> BundleTargets:
        bundle = yaml.safe_load(bundle_file.read_text(encoding="utf-8"))
        default = (bundle.get("variables") or {}).get("catalog", {}).get("default")
        catalogs, production = {}, []
        for target, spec in (bundle.get("targets") or {}).items():
            catalog = ((spec or {}).get("variables") or {}).get("catalog", default)
            if not catalog or "${" in str(catalog):
                raise KitError(f"{bundle_file.name}: target {target} has no literal catalog")
            catalogs[target] = str(catalog)
            if (spec or {}).get("mode") == "production":
                production.append(target)
        if len(production) != 1:
            raise KitError(f"{bundle_file.name}: expected one target in mode production, found {production}")
        return cls(catalogs, production[0])


def _json(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def _logical_id(item: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://github.com/orders-lakehouse/powerbi/{item}"))


def gold_schema(model: GoldModel) -> str:
    schemas = {table.schema for table in model.tables}
    if len(schemas) != 1:
        raise KitError(f"the model's tables live in several schemas: {sorted(schemas)}")
    return schemas.pop()


def kit_files(
    model: GoldModel,
    measures: tuple[DaxMeasure, ...],
    targets: BundleTargets,
    *,
    implementation: str = "default",
) -> dict[str, str]:
    """Every file of the kit, by path below powerbi/; the committed kit is the one with the
    connector's default driver (implementation: a key of tmdl.IMPLEMENTATIONS)."""
    semantic, report = f"{KIT}.SemanticModel", f"{KIT}.Report"
    per_target = ", ".join(f"{catalog} ({target})" for target, catalog in targets.catalogs.items())
    parameters = {
        "Host": (
            PLACEHOLDER.host,
            "Server hostname of the Databricks SQL warehouse (its Connection details tab).",
        ),
        "HttpPath": (
            PLACEHOLDER.http_path,
            "HTTP path of the Databricks SQL warehouse, /sql/1.0/warehouses/<id>.",
        ),
        "Catalog": (
            targets.catalogs[targets.production],
            f"Unity Catalog catalog of the Gold schema: {per_target}.",
        ),
    }
    files = {
        ".gitignore": _GITIGNORE,
        "README.md": _readme(targets),
        f"{KIT}.pbip": _json(
            {
                "$schema": f"{SCHEMAS}/pbip/pbipProperties/1.0.0/schema.json",
                "version": "1.0",
                "artifacts": [{"report": {"path": report}}],
                "settings": {"enableAutoRecovery": True},
            }
        ),
        f"{semantic}/definition.pbism": _json(
            {
                "$schema": f"{SCHEMAS}/item/semanticModel/definitionProperties/1.0.0/schema.json",
                "version": "4.0",
            }
        ),
        f"{semantic}/.platform": _platform("SemanticModel"),
        f"{report}/definition.pbir": _json(
            {
                "$schema": f"{SCHEMAS}/item/report/definitionProperties/2.0.0/schema.json",
                "version": "4.0",
                "datasetReference": {"byPath": {"path": f"../{semantic}"}},
            }
        ),
        f"{report}/.platform": _platform("Report"),
        **{f"{report}/definition/{path}": text for path, text in _report_definition().items()},
    }
    definition = tmdl.files(
        model, measures, database=KIT, parameters=parameters, implementation=implementation
    )
    files.update({f"{semantic}/definition/{path}": text for path, text in definition.items()})
    schema = gold_schema(model)
    for target, catalog in targets.catalogs.items():
        files[f"connections/{KIT}-{target}.pbids"] = pbids(PLACEHOLDER, catalog, schema)
    return files


def local_pbids(model: GoldModel, targets: BundleTargets, warehouse: Warehouse) -> dict[str, str]:
    """The .pbids of each target with a real warehouse, for connections/local/ (not committed)."""
    schema = gold_schema(model)
    return {
        f"{LOCAL_DIR}/{KIT}-{target}.pbids": pbids(warehouse, catalog, schema)
        for target, catalog in targets.catalogs.items()
    }


def pbids(warehouse: Warehouse, catalog: str, schema: str) -> str:
    """A Power BI data source file: one Databricks SQL connection in DirectQuery, in the shape the
    Databricks Partner Connect download has; no credentials (Desktop asks, Entra ID)."""
    return _json(
        {
            "version": "0.1",
            "connections": [
                {
                    "details": {
                        "protocol": "databricks-sql",
                        "address": {"host": warehouse.host, "path": warehouse.http_path},
                        "authentication": None,
                        "query": None,
                    },
                    "options": {"Catalog": catalog, "Database": schema},
                    "mode": "DirectQuery",
                }
            ],
        }
    )


def _platform(kind: str) -> str:
    return _json(
        {
            "$schema": f"{SCHEMAS}/gitIntegration/platformProperties/2.0.0/schema.json",
            "metadata": {"type": kind, "displayName": KIT},
            "config": {"version": "2.0", "logicalId": _logical_id(kind)},
        }
    )


def _report_definition() -> dict[str, str]:
    """A one-page, empty PBIR report: enough for the project to open on the model."""
    page = "metrics"
    return {
        "version.json": _json(
            {
                "$schema": f"{SCHEMAS}/item/report/definition/versionMetadata/1.0.0/schema.json",
                "version": "2.0.0",
            }
        ),
        "report.json": _json(
            {"$schema": f"{SCHEMAS}/item/report/definition/report/3.0.0/schema.json", "themeCollection": {}}
        ),
        "pages/pages.json": _json(
            {
                "$schema": f"{SCHEMAS}/item/report/definition/pagesMetadata/1.0.0/schema.json",
                "pageOrder": [page],
                "activePageName": page,
            }
        ),
        f"pages/{page}/page.json": _json(
            {
                "$schema": f"{SCHEMAS}/item/report/definition/page/2.0.0/schema.json",
                "name": page,
                "displayName": "Metrics",
                "displayOption": "FitToPage",
                "height": 720,
                "width": 1280,
            }
        ),
    }


_GITIGNORE = """\
# Generated by `python -m ingest powerbi` (ingest/powerbi/): regenerate, do not edit.
# What Power BI Desktop writes for the local user, and .pbids with a real workspace host:
**/.pbi/localSettings.json
**/.pbi/cache.abf
connections/local/
"""


def _readme(targets: BundleTargets) -> str:
    catalogs = ", ".join(f"{target}: `{catalog}`" for target, catalog in targets.catalogs.items())
    return f"""\
# Power BI kit (generated)

Generated by `python -m ingest powerbi` (`make powerbi`) from dbt's manifest and semantic layer;
do not edit these files, regenerate them. How to open it, and what is and is not checked:
[docs/power-bi.md](../docs/power-bi.md).

- `{KIT}.pbip`: open it in Power BI Desktop; set the parameters Host, HttpPath and Catalog
  ({catalogs}); sign in with Microsoft Entra ID.
- `{KIT}.SemanticModel/definition/`: the TMDL model, DirectQuery over Gold, one measure per metric.
- `connections/{KIT}-<target>.pbids`: a DirectQuery connection per bundle target, placeholder host;
  `python -m ingest powerbi --host ... --http-path ...` writes real ones to `{LOCAL_DIR}/`.
"""


def is_local(path: str) -> bool:
    return any(pattern.search(path) for pattern in LOCAL_FILES)


def existing(out_dir: Path) -> set[str]:
    if not out_dir.exists():
        return set()
    paths = {p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*") if p.is_file()}
    return {p for p in paths if not is_local(p)}


def differences(files: dict[str, str], out_dir: Path) -> list[str]:
    """What differs between the generated files and out_dir: changed, missing or extra paths."""
    found = []
    for path, text in sorted(files.items()):
        target = out_dir / path
        if not target.exists():
            found.append(f"missing: {path}")
        elif target.read_text(encoding="utf-8") != text:
            found.append(f"changed: {path}")
    found += [f"not generated: {path}" for path in sorted(existing(out_dir) - set(files))]
    return found


def write(files: dict[str, str], out_dir: Path, *, prune: bool = True) -> tuple[list[str], list[str]]:
    """Write the files whose text changed; with prune, delete the kit's files no longer generated.
    Returns (written, deleted)."""
    written, deleted = [], []
    for path, text in sorted(files.items()):
        target = out_dir / path
        if target.exists() and target.read_text(encoding="utf-8") == text:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(path)
    if prune:
        for path in sorted(existing(out_dir) - set(files)):
            (out_dir / path).unlink()
            deleted.append(path)
    return written, deleted
