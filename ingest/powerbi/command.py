"""`python -m ingest powerbi` (`make powerbi`): regenerate the Power BI kit in powerbi/ from a fresh
`dbt parse` (or a given dbt target directory); `--check` only compares. With a warehouse (`--host`,
`--http-path`, default DATABRICKS_HOST and DATABRICKS_HTTP_PATH) it also writes .pbids with those
values to powerbi/connections/local/, which git ignores. `--implementation adbc` (or `odbc`) pins the
Databricks connector's driver on every partition; by default the M leaves it to the connector's
default, and the committed kit is that one."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from ingest.paths import PROJECT_DIR
from ingest.powerbi.tmdl import IMPLEMENTATIONS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=PROJECT_DIR / "powerbi", help="default: powerbi/")
    parser.add_argument(
        "--target-path",
        type=Path,
        default=None,
        help="a dbt target directory with manifest.json and semantic_manifest.json (default: dbt parse now)",
    )
    parser.add_argument(
        "--check", action="store_true", help="compare with --out, write nothing; 1 if they differ"
    )
    parser.add_argument(
        "--host", default=os.environ.get("DATABRICKS_HOST"), help="SQL warehouse server hostname"
    )
    parser.add_argument("--http-path", default=os.environ.get("DATABRICKS_HTTP_PATH"), help="its HTTP path")
    parser.add_argument(
        "--implementation",
        choices=tuple(IMPLEMENTATIONS),
        default="default",
        help="the Databricks connector's driver in every partition's M: default = no Implementation "
        "option (the tenant's or workspace's setting decides: ODBC unless an admin turned ADBC on; the "
        'committed kit), odbc = Implementation="1.0", adbc = Implementation="2.0" (ADBC, Preview on '
        "Microsoft's connector page)",
    )


def generate(
    target_path: Path, bundle_file: Path = PROJECT_DIR / "databricks.yml", implementation: str = "default"
):
    """(the kit's files, the Gold model, the bundle targets) from a dbt target directory;
    implementation: a key of tmdl.IMPLEMENTATIONS."""
    from ingest.powerbi import dax, layer, project

    model = layer.load(target_path)
    targets = project.BundleTargets.read(bundle_file)
    files = project.kit_files(model, dax.measures(model), targets, implementation=implementation)
    return files, model, targets


def main(args: argparse.Namespace) -> int:
    from ingest.powerbi import KitError, layer, project

    try:
        warehouse = None
        if args.host or args.http_path:
            if not (args.host and args.http_path):
                raise KitError(
                    "give both --host and --http-path (or DATABRICKS_HOST and DATABRICKS_HTTP_PATH)"
                )
            warehouse = project.Warehouse.of(args.host, args.http_path)
        with tempfile.TemporaryDirectory(prefix="powerbi-dbt-") as scratch:
            target_path = args.target_path or layer.parse_project(PROJECT_DIR, Path(scratch))
            files, model, targets = generate(target_path, implementation=args.implementation)
    except KitError as error:
        print(f"powerbi: {error}", file=sys.stderr)
        return 2
    if args.check:
        found = project.differences(files, args.out)
        for line in found:
            print(line)
        print(
            f"powerbi: {args.out} {'differs from' if found else 'is'} the generated kit ({len(files)} files)"
        )
        return 1 if found else 0
    written, deleted = project.write(files, args.out)
    for path in written:
        print(f"wrote {path}")
    for path in deleted:
        print(f"deleted {path}")
    if warehouse:
        local, _ = project.write(project.local_pbids(model, targets, warehouse), args.out, prune=False)
        for path in local:
            print(f"wrote {path} ({warehouse.host})")
    print(f"powerbi: {len(files)} files in {args.out}, {len(written)} changed, {len(deleted)} deleted")
    return 0
