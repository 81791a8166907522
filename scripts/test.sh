#!/usr/bin/env bash
# Sets up and runs every check: builds (or reuses) the pinned control-plane tools, then
# formatting, lints, the generated CRDs and the whole test suite (unit, CEL, simulator contract,
# end to end against a real kube-apiserver). The README's test command; CI runs it too.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
step() { printf '\n== %s (%ss)\n' "$1" "$SECONDS"; }

step "prerequisites"
for tool in cargo go git; do
  command -v "$tool" >/dev/null 2>&1 || { echo "missing $tool: install Rust (rustup) and Go 1.26+" >&2; exit 1; }
done
rustup component add rustfmt clippy >/dev/null 2>&1 || true
# The Argo CD health script (deploy/argocd/health.lua) is tested with a real Lua interpreter.
if ! command -v lua5.4 >/dev/null 2>&1 && ! command -v lua >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq lua5.4 >/dev/null
fi

step "pinned control-plane tools (scripts/versions.env)"
HIPAA_TOOLS_BIN=$(bash scripts/tools.sh)
export HIPAA_TOOLS_BIN
ls "$HIPAA_TOOLS_BIN"

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "CRDs in crds/ and the chart equal what crdgen writes"
generated=$(mktemp -d)
trap 'rm -rf "$generated"' EXIT
cargo run --quiet --bin crdgen -- "$generated"
diff -r crds "$generated"
diff -r charts/hipaa-operator/crds "$generated"

step "the conformance model extractor (scripts/conformance)"
python3 -m unittest discover -s scripts/conformance

step "cargo test"
cargo test --workspace

step "the demo, as a smoke test"
bash scripts/demo.sh --ci

step "done"
