#!/usr/bin/env bash
# Two LSE regions on one machine (docs/REGIONS.md): each region is a whole stack of its own
# (stack.sh: a nats-server, a MinIO, the five services) in its own state directory, and both
# share region A's FerretDB. Each region's services read and write their own MinIO and copy a
# blob they miss from the other region's (LSE_REGION / LSE_REGION_PEERS). Both MinIOs use the
# same root credentials, and one admin token works on both gateways.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() {
  cat <<'EOF'
Usage: infra/local/regions.sh up|down|status [a|b]   (default: both; up starts a first, down stops b first)
       infra/local/regions.sh env a|b                  export lines for a client of that region

Environment (defaults in brackets):
  LSE_STATE_DIR            [~/.local/state/lse-local]  region A lives in $LSE_STATE_DIR/region-a, B in region-b
  LSE_REGION_A, LSE_REGION_B [a, b]   region names (LSE_REGION of each region's services)
  LSE_REGION_PORT_OFFSET   [100]    region B's ports are region A's plus this
  Region A's ports are the usual stack.sh / servers.sh ones (LSE_NATS_PORT, LSE_MINIO_PORT,
  LSE_GATEWAY_PORT, LSE_HEALTH_PORT_BASE, ...). Everything else is passed to both stacks.
EOF
}

base="${LSE_STATE_DIR:-$HOME/.local/state/lse-local}"
offset="${LSE_REGION_PORT_OFFSET:-100}"
name_a="${LSE_REGION_A:-a}"
name_b="${LSE_REGION_B:-b}"
bucket="${LSE_S3_BUCKET:-lse}"
nats_a="${LSE_NATS_PORT:-4222}"
mon_a="${LSE_NATS_MONITOR_PORT:-8222}"
route_a="${LSE_NATS_ROUTE_PORT:-6222}"
ferret_a="${LSE_FERRETDB_PORT:-27017}"
debug_a="${LSE_FERRETDB_DEBUG_PORT:-8088}"
minio_a="${LSE_MINIO_PORT:-9000}"
gw_a="${LSE_GATEWAY_PORT:-8080}"
health_a="${LSE_HEALTH_PORT_BASE:-}"
[[ "$offset" =~ ^[0-9]+$ && "$offset" -gt 0 ]] || { echo "[regions] LSE_REGION_PORT_OFFSET must be a positive whole number, got '$offset'" >&2; exit 2; }
[[ "$name_a" != "$name_b" ]] || { echo "[regions] LSE_REGION_A and LSE_REGION_B must differ" >&2; exit 2; }

# _in REGION CMD... -> runs CMD with that region's stack settings.
_in() {
  local r=$1; shift
  if [[ $r == a ]]; then
    env LSE_STATE_DIR="$base/region-a" LSE_NATS_PORT="$nats_a" LSE_NATS_MONITOR_PORT="$mon_a" LSE_NATS_ROUTE_PORT="$route_a" \
      LSE_FERRETDB_PORT="$ferret_a" LSE_FERRETDB_DEBUG_PORT="$debug_a" LSE_MINIO_PORT="$minio_a" LSE_GATEWAY_PORT="$gw_a" \
      ${health_a:+LSE_HEALTH_PORT_BASE="$health_a"} \
      LSE_REGION="$name_a" LSE_REGION_PEERS="$name_b=http://127.0.0.1:$((minio_a + offset))/$bucket" "$@"
  else
    env LSE_STATE_DIR="$base/region-b" LSE_NATS_PORT=$((nats_a + offset)) LSE_NATS_MONITOR_PORT=$((mon_a + offset)) LSE_NATS_ROUTE_PORT=$((route_a + offset)) \
      LSE_FERRETDB_PORT=$((ferret_a + offset)) LSE_FERRETDB_DEBUG_PORT=$((debug_a + offset)) LSE_MINIO_PORT=$((minio_a + offset)) LSE_GATEWAY_PORT=$((gw_a + offset)) \
      ${health_a:+LSE_HEALTH_PORT_BASE=$((health_a + offset))} \
      LSE_EXTERNAL_MONGO_URL="mongodb://127.0.0.1:$ferret_a" \
      LSE_REGION="$name_b" LSE_REGION_PEERS="$name_a=http://127.0.0.1:$minio_a/$bucket" "$@"
  fi
}

_up() {
  if [[ $1 == b ]]; then
    [[ -s "$base/region-a/minio-credentials.env" ]] || { echo "[regions] region A must be up first (its FerretDB is shared, its credentials are copied)" >&2; exit 1; }
    mkdir -p "$base/region-b"
    (umask 077; cp "$base/region-a/minio-credentials.env" "$base/region-b/minio-credentials.env"; cp "$base/region-a/admin-token" "$base/region-b/admin-token")
  fi
  _in "$1" bash "$here/stack.sh" up
}

which=${2:-both}
case "$which" in a|b|both) ;; *) usage >&2; exit 2 ;; esac
case "${1:-}" in
  up) if [[ $which == both ]]; then _up a; _up b; else _up "$which"; fi ;;
  down) if [[ $which == both ]]; then _in b bash "$here/stack.sh" down; _in a bash "$here/stack.sh" down; else _in "$which" bash "$here/stack.sh" down; fi ;;
  status) rc=0; for r in a b; do [[ $which == both || $which == "$r" ]] || continue; echo "== region $r"; _in "$r" bash "$here/stack.sh" status || rc=1; done; exit $rc ;;
  env) [[ $which == a || $which == b ]] || { usage >&2; exit 2; }; _in "$which" bash "$here/stack.sh" env; _in "$which" bash -c 'printf "export LSE_REGION=%q\n" "$LSE_REGION"' ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
