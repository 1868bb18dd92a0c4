#!/usr/bin/env bash
# The whole test suite (`npm test`): build, unit tests, then the local stack (NATS JetStream,
# FerretDB, MinIO and the five services; built once with `go install` and cached outside the
# repo) and the integration tests against it. A stack this script started is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
export NX_DAEMON=false NX_NO_CLOUD=true
stack=infra/local/stack.sh

npm run build --silent
npx jest --selectProjects unit "$@"

started=0
if ! bash "$stack" status >/dev/null 2>&1; then
  started=1
  trap 'bash "$stack" down >/dev/null 2>&1 || true' EXIT
fi
bash "$stack" up
eval "$(bash "$stack" env)"
npx jest --selectProjects int --runInBand "$@"
if [ "$started" = 1 ]; then bash "$stack" down; trap - EXIT; fi
