#!/usr/bin/env bash
# Builds the Databricks CLI at the version pinned in tools/databricks-cli/go.mod (checksums in
# its go.sum) from the Go module proxy, into .tools/bin/databricks. Nothing happens when that
# version is already built. Used by set-up (when Go is here) and by `make check-bundle`.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf 'setup: %s\n' "$*"; }

version=$(awk '$1 == "github.com/databricks/cli" {print $2} $1 == "require" && $2 == "github.com/databricks/cli" {print $3}' tools/databricks-cli/go.mod)
bin=.tools/bin/databricks
if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -qx "Databricks CLI ${version}"; then
    exit 0
fi
if ! command -v go >/dev/null 2>&1; then
    say "Go is missing: the Databricks CLI for make check-bundle cannot be built (install Go 1.25+)."
    exit 1
fi
say "building the Databricks CLI ${version} from the Go module proxy (first time: about 3 minutes)"
mkdir -p .tools/bin
# `go install ...@version` asks the proxy for the module's version list, which it refuses for this
# module; building it as a tool of a small pinned module asks only for the exact versions.
(cd tools/databricks-cli && go build -trimpath \
    -ldflags "-s -w -X github.com/databricks/cli/internal/build.buildVersion=${version#v}" \
    -o ../../"$bin" github.com/databricks/cli)
"$bin" --version
