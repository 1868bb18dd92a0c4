#!/usr/bin/env bash
# The whole LSE stack on one machine without Docker: the three servers (servers.sh: NATS
# JetStream, FerretDB on SQLite, MinIO) plus the five services as separate Node processes.
# Binaries are built once into $LSE_BIN_DIR (build-servers.sh); services run from the repo's
# build output (`npm run build` first). Idempotent; `down` stops only what `up` started.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=servers.sh
source "$here/servers.sh"
# shellcheck source=node.sh
source "$here/node.sh"

usage() {
  cat <<'EOF2'
Usage: infra/local/stack.sh up|down|status|env|logs [SERVICE]|--help

  up      build the servers if needed, start them, then the services; wait until the gateway is ready
  down    stop the services, then the servers (only what `up` started)
  status  servers and service processes, and whether each is up
  env     `export` lines for clients: LSE_SERVER, LSE_TOKEN, NATS_URL, MONGO_URL, S3_*
          eval "$(bash infra/local/stack.sh env)"
  logs    tail the service logs (or one: resolver, fetcher-2, gateway, ...)

Replicas (defaults in brackets): LSE_RESOLVER_REPLICAS [1] LSE_FETCHER_REPLICAS [2]
  LSE_VERIFIER_REPLICAS [1] LSE_ASSEMBLER_REPLICAS [2] (one gateway).
NATS: LSE_NATS_CLUSTER=3 runs a three-node nats-server cluster (servers.sh --help); the services
  then get all three in NATS_URL and LSE_STREAM_REPLICAS=3. LSE_NATS_SYNC [always] or default.
Gateway: LSE_GATEWAY_PORT [8080]. LSE_HEALTH_PORT_BASE [unset]: give each worker process a
  /healthz, /readyz and /metrics port, BASE, BASE+1, ... in the order resolver, fetcher, verifier,
  assembler (replicas in turn). Two regions: infra/local/regions.sh. Every other service setting (docs/CONFIGURATION.md) is passed
through from the environment. State, logs and pid files: $LSE_STATE_DIR [~/.local/state/lse-local].
Images are signed with LSE_IMAGE_SIGNING_KEY (a PEM P-256 key); unset, a dev key is made once in
  $LSE_STATE_DIR/image-signing-key.pem.
LSE_NODE=1 (root only): also lse-node and a containerd of its own (infra/local/node.sh, docs/NODE.md);
`env` then prints CONTAINERD_ADDRESS and the rest `ctr` and `lse node` need.
EOF2
}

LSE_GATEWAY_PORT="${LSE_GATEWAY_PORT:-8080}"
SERVICES=(resolver fetcher verifier assembler gateway)
_replicas() {
  case "$1" in
    resolver) echo "${LSE_RESOLVER_REPLICAS:-1}" ;;
    fetcher) echo "${LSE_FETCHER_REPLICAS:-2}" ;;
    verifier) echo "${LSE_VERIFIER_REPLICAS:-1}" ;;
    assembler) echo "${LSE_ASSEMBLER_REPLICAS:-2}" ;;
    gateway) echo 1 ;;
  esac
}
_slog() { printf '[stack] %s\n' "$*" >&2; }
_tokenfile() { echo "$LSE_STATE_DIR/admin-token"; }

_ensure_token() {
  local f; f=$(_tokenfile)
  [[ -s "$f" ]] && return 0
  mkdir -p "$LSE_STATE_DIR"
  (umask 077; od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$f.tmp")
  mv -f "$f.tmp" "$f"
}

# _svc_running NAME-INDEX -> pid of a live service process started by us.
_svc_running() {
  local pidfile="$LSE_STATE_DIR/run/svc-$1.pid" pid
  [[ -f "$pidfile" ]] || return 1
  pid=$(<"$pidfile")
  if [[ "$pid" =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "apps/${1%-*}/dist/main.js"; then
    echo "$pid"; return 0
  fi
  rm -f "$pidfile"; return 1
}

# _health_port SVC I -> LSE_HEALTH_PORT_BASE + the position of worker SVC-I (gateway: none).
_health_port() {
  local svc n=0 i
  [[ -n "${LSE_HEALTH_PORT_BASE:-}" && "$1" != gateway ]] || return 0
  for svc in resolver fetcher verifier assembler; do
    for ((i = 1; i <= $(_replicas "$svc"); i++)); do
      [[ "$svc" == "$1" && "$i" == "$2" ]] && { echo $((LSE_HEALTH_PORT_BASE + n)); return 0; }
      n=$((n + 1))
    done
  done
}

# The image signing key (ECDSA P-256, PKCS#8 PEM) the gateway signs images with, unless
# LSE_IMAGE_SIGNING_KEY names one: a dev key made once in the state dir (mode 600, never printed).
_image_keyfile() { echo "${LSE_IMAGE_SIGNING_KEY:-$LSE_STATE_DIR/image-signing-key.pem}"; }
_ensure_image_key() {
  local f; f=$(_image_keyfile)
  [[ -s "$f" || -n "${LSE_IMAGE_SIGNING_KEY:-}" ]] && return 0
  mkdir -p "$LSE_STATE_DIR"
  (umask 077; node -e "process.stdout.write(require('node:crypto').generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }))" >"$f.tmp")
  mv -f "$f.tmp" "$f"
  _slog "made a dev image signing key: $f (public key: GET /v1/image-key)"
}

_svc_env() {
  servers_env | sed 's/^export //'
  printf 'LSE_TOKENS=admin=%s:admin\n' "$(<"$(_tokenfile)")"
  printf 'LSE_GATEWAY_PORT=%s\n' "$LSE_GATEWAY_PORT"
  local hp; hp=$(_health_port "$1" "$2")
  [[ -z "$hp" ]] || printf 'LSE_HEALTH_PORT=%s\n' "$hp"
  printf 'LSE_IMAGE_SIGNING_KEY=%s\n' "$(_image_keyfile)"
}

_start_service() {
  local svc=$1 i=$2 id="$1-$2" main="$repo/apps/$1/dist/main.js" pid
  [[ -f "$main" ]] || _die "$main is missing: run 'npm run build' at the repository root first"
  if pid=$(_svc_running "$id"); then _slog "$id: already running (pid $pid)"; return 0; fi
  (
    set -a
    # shellcheck disable=SC1090
    source <(_svc_env "$svc" "$i")
    set +a
    cd "$repo"
    exec setsid node "$main" >>"$LSE_STATE_DIR/logs/svc-$id.log" 2>&1 </dev/null
  ) &
  echo $! >"$LSE_STATE_DIR/run/svc-$id.pid"
  _slog "$id: started (pid $!, log $LSE_STATE_DIR/logs/svc-$id.log)"
}

stack_up() {
  bash "$here/build-servers.sh"
  servers_up
  _ensure_token
  _ensure_image_key
  local svc i
  for svc in "${SERVICES[@]}"; do
    for ((i = 1; i <= $(_replicas "$svc"); i++)); do _start_service "$svc" "$i"; done
  done
  local deadline=$((SECONDS + LSE_READY_TIMEOUT))
  until curl -fsS -o /dev/null --max-time 2 "http://$LSE_HOST:$LSE_GATEWAY_PORT/readyz" 2>/dev/null; do
    if (( SECONDS >= deadline )); then
      tail -n 20 "$LSE_STATE_DIR/logs/svc-gateway-1.log" >&2 || true
      _die "gateway not ready on port $LSE_GATEWAY_PORT after ${LSE_READY_TIMEOUT}s (log: $LSE_STATE_DIR/logs/svc-gateway-1.log)"
    fi
    sleep 0.5
  done
  sleep 1 # let every worker subscribe its consumer
  for svc in "${SERVICES[@]}"; do
    for ((i = 1; i <= $(_replicas "$svc"); i++)); do
      _svc_running "$svc-$i" >/dev/null || { tail -n 20 "$LSE_STATE_DIR/logs/svc-$svc-$i.log" >&2; _die "$svc-$i exited during startup"; }
    done
  done
  servers_id_indexes # the services have created their collections by now
  if [[ "${LSE_NODE:-0}" == 1 ]]; then
    LSE_NODE_SERVER="http://$LSE_HOST:$LSE_GATEWAY_PORT" LSE_NODE_TOKEN="$(<"$(_tokenfile)")" node_up "$repo"
  fi
  _slog "stack up: gateway http://$LSE_HOST:$LSE_GATEWAY_PORT; clients: eval \"\$(bash $here/stack.sh env)\""
}

stack_down() {
  local f id pid pids=()
  for f in "$LSE_STATE_DIR"/run/svc-*.pid; do
    [[ -e "$f" ]] || continue
    id=$(basename "$f" .pid); id=${id#svc-}
    if pid=$(_svc_running "$id"); then kill -TERM "$pid" 2>/dev/null || true; pids+=("$pid"); _slog "$id: SIGTERM to pid $pid"; fi
  done
  local deadline=$((SECONDS + 30))
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null; do
      (( SECONDS >= deadline )) && { kill -KILL "$pid" 2>/dev/null || true; break; }
      sleep 0.2
    done
  done
  rm -f "$LSE_STATE_DIR"/run/svc-*.pid
  node_down
  servers_down
}

stack_status() {
  local rc=0 f id pid
  servers_status || rc=1
  if [[ "${LSE_NODE:-0}" == 1 ]]; then node_status || rc=1; fi
  for f in "$LSE_STATE_DIR"/run/svc-*.pid; do
    [[ -e "$f" ]] || continue
    id=$(basename "$f" .pid); id=${id#svc-}
    if pid=$(_svc_running "$id"); then printf '%-12s %s\n' "$id" "up (pid $pid)"; else printf '%-12s %s\n' "$id" down; rc=1; fi
  done
  return $rc
}

stack_env() {
  _ensure_token
  servers_env
  printf 'export %s=%q\n' LSE_SERVER "http://$LSE_HOST:$LSE_GATEWAY_PORT" LSE_TOKEN "$(<"$(_tokenfile)")"
  if [[ "${LSE_NODE:-0}" == 1 ]]; then node_env; fi
}

case "${1:-}" in
  up) stack_up ;;
  down) stack_down ;;
  status) stack_status ;;
  env) stack_env ;;
  logs) if [[ -n "${2:-}" ]]; then tail -n 100 -f "$LSE_STATE_DIR/logs/svc-$2.log"; else tail -n 20 -f "$LSE_STATE_DIR"/logs/svc-*.log; fi ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
