#!/usr/bin/env bash
# The node side of the local stack (docs/NODE.md): lse-node (apps/node, the containerd proxy
# snapshotter with the node fragment cache) and a containerd of its own (Debian `containerd` +
# `runc`, installed with apt-get when missing) whose config, root, state and sockets live in
# $LSE_STATE_DIR/containerd, with CRI disabled and `[proxy_plugins.lse]` pointing at the agent.
# Root only (containerd and overlay mounts need it). Sourced by stack.sh when LSE_NODE=1;
# callable on its own: infra/local/node.sh up|down|status|env.
# Needs the servers' environment (servers.sh) for the agent's MONGO_URL and S3_*.

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  # shellcheck source=servers.sh
  source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/servers.sh"
fi
LSE_CONTAINERD_DIR="${LSE_CONTAINERD_DIR:-$LSE_STATE_DIR/containerd}"
LSE_NODE_ROOT="${LSE_NODE_ROOT:-$LSE_STATE_DIR/node}"
CONTAINERD_NAMESPACE="${CONTAINERD_NAMESPACE:-default}"
# The agent's registry endpoint (relays /v2 to the gateway; docs/NODE.md), on loopback.
LSE_NODE_REGISTRY_PORT="${LSE_NODE_REGISTRY_PORT:-5000}"

_nlog() { printf '[node] %s\n' "$*" >&2; }
_ndie() { printf '[node] ERROR: %s\n' "$*" >&2; exit 1; }
_ctrd_sock() { echo "$LSE_CONTAINERD_DIR/containerd.sock"; }

# node_install: containerd and runc from Debian when missing.
node_install() {
  local need=()
  command -v containerd >/dev/null || need+=(containerd)
  command -v runc >/dev/null || need+=(runc)
  [[ ${#need[@]} -eq 0 ]] && return 0
  [[ $(id -u) -eq 0 ]] || _ndie "containerd/runc missing and not root: apt-get install ${need[*]}"
  _nlog "installing from Debian: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
}

_containerd_config() {
  cat <<EOF
version = 2
root = "$LSE_CONTAINERD_DIR/root"
state = "$LSE_CONTAINERD_DIR/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$(_ctrd_sock)"

[ttrpc]
  address = "$(_ctrd_sock).ttrpc"

[debug]
  address = "$LSE_CONTAINERD_DIR/debug.sock"

[proxy_plugins.lse]
  type = "snapshot"
  address = "$LSE_NODE_ROOT/snapshotter.sock"
EOF
}

# _npid NAME -> pid of NAME (containerd | agent) if it runs from our pid file.
_npid() {
  local f="$LSE_STATE_DIR/run/node-$1.pid" pid
  [[ -f "$f" ]] || return 1
  pid=$(<"$f")
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && { echo "$pid"; return 0; }
  rm -f "$f"; return 1
}

_nwait() { # _nwait WHAT CMD...: up to 30 s
  local what=$1 deadline=$((SECONDS + 30)); shift
  until "$@" >/dev/null 2>&1; do
    (( SECONDS >= deadline )) && _ndie "$what did not come up in 30 s (logs: $LSE_STATE_DIR/logs/node-*.log)"
    sleep 0.2
  done
}

node_up() {
  [[ $(id -u) -eq 0 ]] || _ndie "the node stack (containerd, overlay mounts) needs root"
  node_install
  local repo=${1:?repo} pid
  mkdir -p "$LSE_CONTAINERD_DIR" "$LSE_NODE_ROOT" "$LSE_STATE_DIR/run" "$LSE_STATE_DIR/logs"
  if pid=$(_npid agent) && ! [[ -S "$LSE_NODE_ROOT/control.sock" ]]; then _nstop agent; fi # stopping, or wedged
  if ! _npid agent >/dev/null; then
    [[ -f "$repo/apps/node/dist/main.js" ]] || _ndie "apps/node/dist/main.js is missing: run 'npm run build' first"
    (
      set -a
      # shellcheck disable=SC1090
      source <(servers_env | sed 's/^export //')
      set +a
      export LSE_NODE_ROOT CONTAINERD_ADDRESS="$(_ctrd_sock)" CONTAINERD_NAMESPACE
      # The gateway, for renewing and releasing synthesis leases (stack.sh passes its own).
      if [[ -n "${LSE_NODE_SERVER:-}" ]]; then export LSE_SERVER="$LSE_NODE_SERVER" LSE_TOKEN="${LSE_NODE_TOKEN:-}"; else unset LSE_SERVER LSE_TOKEN; fi
      # ... and for its registry endpoint, which relays to that gateway.
      if [[ -n "${LSE_NODE_SERVER:-}" ]]; then export LSE_NODE_REGISTRY_PORT LSE_NODE_REGISTRY_ADDRESS=127.0.0.1; else unset LSE_NODE_REGISTRY_PORT; fi
      cd "$repo"
      exec setsid node apps/node/dist/main.js >>"$LSE_STATE_DIR/logs/node-agent.log" 2>&1 </dev/null
    ) &
    echo $! >"$LSE_STATE_DIR/run/node-agent.pid"
    _nlog "lse-node: started (pid $!, log $LSE_STATE_DIR/logs/node-agent.log)"
  fi
  _nwait "lse-node" test -S "$LSE_NODE_ROOT/control.sock"
  if ! _npid containerd >/dev/null; then
    _containerd_config >"$LSE_CONTAINERD_DIR/config.toml"
    setsid containerd --config "$LSE_CONTAINERD_DIR/config.toml" >>"$LSE_STATE_DIR/logs/node-containerd.log" 2>&1 </dev/null &
    echo $! >"$LSE_STATE_DIR/run/node-containerd.pid"
    _nlog "containerd: started (pid $!, config $LSE_CONTAINERD_DIR/config.toml)"
  fi
  _nwait "containerd" ctr --address "$(_ctrd_sock)" version
  local plugins
  plugins=$(ctr --address "$(_ctrd_sock)" plugins ls 2>/dev/null || true)
  grep -Eq 'io\.containerd\.snapshotter\.v1 +lse +- +ok' <<<"$plugins" \
    || _ndie "containerd does not list the lse snapshotter as ok (ctr plugins ls; log $LSE_STATE_DIR/logs/node-containerd.log)"
}

_nstop() {
  local pid
  pid=$(_npid "$1") || return 0
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 20))
  while kill -0 "$pid" 2>/dev/null; do
    (( SECONDS >= deadline )) && { kill -KILL "$pid" 2>/dev/null || true; break; }
    sleep 0.2
  done
  rm -f "$LSE_STATE_DIR/run/node-$1.pid"
  _nlog "$1: stopped (pid $pid)"
}

node_down() {
  local pid
  if pid=$(_npid containerd); then
    # Containers left running would keep their shims (and mounts): kill their tasks first.
    local ns c
    for ns in $(ctr --address "$(_ctrd_sock)" namespaces ls -q 2>/dev/null); do
      for c in $(ctr --address "$(_ctrd_sock)" -n "$ns" tasks ls -q 2>/dev/null); do
        ctr --address "$(_ctrd_sock)" -n "$ns" tasks kill -s SIGKILL "$c" >/dev/null 2>&1 || true
      done
    done
  fi
  _nstop containerd
  _nstop agent
  # Mounts containerd left under its own root (none in normal operation).
  grep -o " $LSE_CONTAINERD_DIR/[^ ]*" /proc/self/mounts 2>/dev/null | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done || true
}

node_status() {
  local rc=0 n pid
  for n in agent containerd; do
    if pid=$(_npid "$n"); then printf '%-12s %s\n' "node-$n" "up (pid $pid)"; else printf '%-12s %s\n' "node-$n" down; rc=1; fi
  done
  return $rc
}

node_env() {
  printf 'export %s=%q\n' CONTAINERD_ADDRESS "$(_ctrd_sock)" CONTAINERD_NAMESPACE "$CONTAINERD_NAMESPACE" \
    CONTAINERD_SNAPSHOTTER lse LSE_NODE_ROOT "$LSE_NODE_ROOT" LSE_NODE_CONTROL_SOCKET "$LSE_NODE_ROOT/control.sock" \
    LSE_NODE_REGISTRY "127.0.0.1:$LSE_NODE_REGISTRY_PORT"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  case "${1:-}" in
    up) node_up "$(cd "$here/../.." && pwd)" ;;
    down) node_down ;;
    status) node_status ;;
    env) node_env ;;
    *) echo "Usage: infra/local/node.sh up|down|status|env" >&2; exit 2 ;;
  esac
fi
