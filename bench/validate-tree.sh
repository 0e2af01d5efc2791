#!/usr/bin/env bash
# Builds the lean release binary (validate needs no serving), installs taplo
# and check-jsonschema into a cache virtualenv (from PyPI), and runs
# bench/validate_tree.py. See the README.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/deployctl"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/lean-target}"
cargo build --release --quiet --no-default-features --manifest-path "$root/Cargo.toml"
venv="$cache/bench-venv"
if [ ! -x "$venv/bin/check-jsonschema" ] || [ ! -x "$venv/bin/taplo" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet taplo==0.9.3 check-jsonschema==0.39.0
fi
exec python3 "$root/bench/validate_tree.py" "$CARGO_TARGET_DIR/release/deployctl" --venv "$venv" "$@"
