#!/usr/bin/env bash
# The one command that installs what the tests need and runs them all.
# Usage: scripts/test.sh        (from anywhere inside the checkout)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "Rust toolchain and targets (rust-toolchain.toml)"
rustup toolchain install >/dev/null
rustup show active-toolchain

step "Python tools the tests drive (schemathesis fuzzes the HTTP API)"
python3 -m pip install --quiet --disable-pip-version-check schemathesis
schemathesis --version

step "Formatting"
cargo fmt --all --check

step "Lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

# Tests run optimised: they load the whole sample county through the real binary and
# compile real plugin components, and the release build is shared with the main command.
step "Tests"
cargo test --workspace --release --locked
