#!/usr/bin/env bash
# The one command that installs what the tests need and runs them all.
# Usage: scripts/test.sh        (from anywhere inside the checkout)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "Rust toolchain and targets (rust-toolchain.toml)"
rustup toolchain install >/dev/null
rustup show active-toolchain

step "Formatting"
cargo fmt --all --check

step "Lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Tests"
cargo test --workspace --locked
