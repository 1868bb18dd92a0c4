#!/usr/bin/env bash
# The whole test suite (`npm test`): build, unit tests, then the local stack (NATS JetStream,
# FerretDB, MinIO and the five services; the servers, and the registry clients the tests use
# (infra/local/build-registry-tools.sh), are built once with `go install` and cached outside the
# repo) and the integration tests against it.
# If a stack is already up (a developer's), the integration tests use it. Otherwise this script
# starts one with its own fresh state directory and ports-as-configured, and removes it at the end.
# First, scripts/ensure-tools.sh installs the Debian tools the tests need (as root with apt-get)
# or stops at once saying what to install.
set -euo pipefail
cd "$(dirname "$0")/.."
export NX_DAEMON=false NX_NO_CLOUD=true
stack=infra/local/stack.sh

bash scripts/ensure-tools.sh
bash scripts/apt-lists-fresh.sh # the Debian tests refuse expired apt metadata

npm run build --silent
npx jest --selectProjects unit "$@"

if bash "$stack" status >/dev/null 2>&1; then
  echo "[test] using the stack that is already up (LSE_STATE_DIR=${LSE_STATE_DIR:-default})"
else
  export LSE_STATE_DIR
  LSE_STATE_DIR=$(mktemp -d -t lse-test-stack.XXXXXX)
  cleanup() { bash "$stack" down >/dev/null 2>&1 || true; rm -rf "$LSE_STATE_DIR"; }
  trap cleanup EXIT
  echo "[test] starting a fresh stack in $LSE_STATE_DIR"
fi
# The node agent and its containerd (node.int.spec.ts) when root: containerd and overlay mounts need it.
if [[ -z "${LSE_NODE:-}" && $(id -u) -eq 0 ]]; then export LSE_NODE=1; fi
# oras, cosign and the OCI conformance suite for the registry int tests (built once, cached like the servers).
bash infra/local/build-registry-tools.sh
bash "$stack" up
eval "$(bash "$stack" env)"
npx jest --selectProjects int --runInBand "$@"
