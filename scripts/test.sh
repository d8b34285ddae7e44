#!/usr/bin/env bash
# The one command that installs what the tests need and runs them all.
# Usage: scripts/test.sh        (from anywhere inside the checkout)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "Rust toolchain and targets (rust-toolchain.toml)"
rustup toolchain install >/dev/null
rustup show active-toolchain

step "Python tools the tests drive (schemathesis fuzzes the HTTP API; psycopg and ADBC are analysts' clients; moto serves S3; deltalake reads our tables)"
python3 -m pip install --quiet --disable-pip-version-check schemathesis "psycopg[binary]" \
    adbc-driver-flightsql pyarrow "moto[server]" deltalake
schemathesis --version

step "Browser and fonts the web page test drives (chromium, a CJK font), and its node packages"
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }
if ! command -v chromium >/dev/null || ! fc-list 2>/dev/null | grep -qi "WenQuanYi Micro Hei"; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null
fi
chromium --version 2>/dev/null || true
npm ci --prefix tests/web --silent --no-audit --no-fund

step "Formatting"
cargo fmt --all --check

step "Lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

# Tests run optimised: they load the whole sample county through the real binary and
# compile real plugin components, and the release build is shared with the main command.
step "Tests"
cargo test --workspace --release --locked
