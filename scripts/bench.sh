#!/usr/bin/env bash
# sannong against DuckDB on the synthetic sample county (docs/performance.md).
#   scripts/bench.sh [--scales 1,10] [--sannong PATH] [--out docs/bench-results.json]
# Needs the release binaries: cargo build --release -p sannong -p sample-county
# (in $CARGO_TARGET_DIR, default /work/.sannong-target). Installs duckdb from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/.sannong-target}"
python3 -c 'import duckdb' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check duckdb
exec python3 scripts/bench.py "$@"
