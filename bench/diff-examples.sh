#!/usr/bin/env bash
# Builds the lean release binary and runs bench/diff_examples.py. See the README.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/deployctl"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/lean-target}"
cargo build --release --quiet --no-default-features --manifest-path "$root/Cargo.toml"
exec python3 "$root/bench/diff_examples.py" "$CARGO_TARGET_DIR/release/deployctl" "$@"
