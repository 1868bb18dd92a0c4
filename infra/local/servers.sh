#!/usr/bin/env bash
# Run the three real servers LSE's distributed part needs, on loopback, without
# Docker: NATS (JetStream), FerretDB (MongoDB wire protocol, SQLite backend) and
# MinIO (S3). Binaries come from build-servers.sh. Each server runs detached
# (setsid), logs to its own file, and is tracked by a pid file; `down` stops only
# the pids it recorded. Callable (`servers.sh up`) or source-able: sourcing only
# defines the servers_* functions and LSE_* defaults (the caller should have
# `set -euo pipefail`).

usage() {
  cat <<'EOF'
Usage: infra/local/servers.sh up|down|status|env|id-indexes|--help

  up      start NATS, FerretDB and MinIO (those not already running), wait until
          each is ready, create the S3 bucket; safe to run twice
  down    stop the servers started by `up` (by pid file) and wait for them to exit
  status  print each server and whether it is up (exit 1 if any is not)
  env     print `export NAME=value` lines for clients (incl. the S3 credentials):
          eval "$(infra/local/servers.sh env)"
  id-indexes  add to every FerretDB collection the SQLite index its `_id` lookups can
          use (FerretDB 1.24 indexes a different expression than it queries, so every
          `_id` find, update and delete scans the table); run after the services have
          created their collections (stack.sh up does); safe to run twice

Environment (defaults in brackets):
  LSE_BIN_DIR               [$HOME/.cache/lse/bin]  where build-servers.sh put the binaries
  LSE_STATE_DIR             [$HOME/.local/state/lse-local]  data/, logs/, run/, credentials
  LSE_NATS_PORT             [4222]   LSE_NATS_MONITOR_PORT [8222]
  LSE_NATS_SYNC             [always] JetStream fsync: `always` (before every PubAck, so an
                                     acknowledged publish survives a crash) or `default`
                                     (nats-server's lazy fsync, every 2 min)
  LSE_NATS_CLUSTER          [1]      1 = one nats-server; 3 = a three-node cluster on loopback
                                     (node i uses LSE_NATS_PORT+i-1, LSE_NATS_MONITOR_PORT+i-1
                                     and route port LSE_NATS_ROUTE_PORT+i-1)
  LSE_NATS_ROUTE_PORT       [6222]   first route (cluster) port, cluster mode only
  LSE_FERRETDB_PORT         [27017]  LSE_FERRETDB_DEBUG_PORT [8088]
  LSE_MINIO_PORT            [9000]   (MinIO console is off)
  LSE_S3_BUCKET             [lse]
  LSE_EXTERNAL_MONGO_URL    []       a MongoDB-compatible server already running elsewhere (the
                                     shared database of a second region, infra/local/regions.sh):
                                     no FerretDB is started and `env` prints this MONGO_URL
  LSE_READY_TIMEOUT         [60]     seconds to wait for each server in `up`
All servers listen on 127.0.0.1 only.
EOF
}

LSE_BIN_DIR="${LSE_BIN_DIR:-$HOME/.cache/lse/bin}"
LSE_STATE_DIR="${LSE_STATE_DIR:-$HOME/.local/state/lse-local}"
LSE_NATS_PORT="${LSE_NATS_PORT:-4222}"
LSE_NATS_MONITOR_PORT="${LSE_NATS_MONITOR_PORT:-8222}"
LSE_NATS_SYNC="${LSE_NATS_SYNC:-always}"
LSE_NATS_CLUSTER="${LSE_NATS_CLUSTER:-1}"
LSE_NATS_ROUTE_PORT="${LSE_NATS_ROUTE_PORT:-6222}"
LSE_FERRETDB_PORT="${LSE_FERRETDB_PORT:-27017}"
LSE_FERRETDB_DEBUG_PORT="${LSE_FERRETDB_DEBUG_PORT:-8088}"
LSE_MINIO_PORT="${LSE_MINIO_PORT:-9000}"
LSE_S3_BUCKET="${LSE_S3_BUCKET:-lse}"
LSE_READY_TIMEOUT="${LSE_READY_TIMEOUT:-60}"
LSE_HOST=127.0.0.1
LSE_S3_REGION=us-east-1

_log() { printf '[servers] %s\n' "$*" >&2; }
_die() { printf '[servers] ERROR: %s\n' "$*" >&2; exit 1; }

case "$LSE_NATS_SYNC" in
  always|default) ;;
  *) _die "LSE_NATS_SYNC must be 'always' (fsync before every PubAck) or 'default' (nats-server's 2-minute fsync), got '$LSE_NATS_SYNC'" ;;
esac
case "$LSE_NATS_CLUSTER" in
  1) LSE_NATS_NODES=(nats) ;;
  3) LSE_NATS_NODES=(nats-1 nats-2 nats-3) ;;
  *) _die "LSE_NATS_CLUSTER must be 1 (one nats-server) or 3 (a three-node cluster), got '$LSE_NATS_CLUSTER'" ;;
esac
LSE_EXTERNAL_MONGO_URL="${LSE_EXTERNAL_MONGO_URL:-}"
if [[ -n "$LSE_EXTERNAL_MONGO_URL" ]]; then
  LSE_SERVERS=("${LSE_NATS_NODES[@]}" minio)
else
  LSE_SERVERS=("${LSE_NATS_NODES[@]}" ferretdb minio)
fi
# Every name a nats-server may have been started under (down/status also find the other mode's).
_ALL_NATS=(nats nats-1 nats-2 nats-3)

# _nats_index NAME -> 0 for `nats` and `nats-1`, 1 for `nats-2`, 2 for `nats-3`.
_nats_index() {
  case "$1" in
    nats-*) echo $(( ${1#nats-} - 1 )) ;;
    *) echo 0 ;;
  esac
}

_binary() {
  case "$1" in
    nats|nats-*) echo "$LSE_BIN_DIR/nats-server" ;;
    ferretdb) echo "$LSE_BIN_DIR/ferretdb" ;;
    minio) echo "$LSE_BIN_DIR/minio" ;;
  esac
}
_port() {
  case "$1" in
    nats|nats-*) echo $(( LSE_NATS_PORT + $(_nats_index "$1") )) ;;
    ferretdb) echo "$LSE_FERRETDB_PORT" ;;
    minio) echo "$LSE_MINIO_PORT" ;;
  esac
}
_monitor_port() { echo $(( LSE_NATS_MONITOR_PORT + $(_nats_index "$1") )); }
_route_port() { echo $(( LSE_NATS_ROUTE_PORT + $(_nats_index "$1") )); }
# _all_ports NAME -> every port NAME listens on (checked free before it starts).
_all_ports() {
  case "$1" in
    nats) echo "$LSE_NATS_PORT $LSE_NATS_MONITOR_PORT" ;;
    nats-*) echo "$(_port "$1") $(_monitor_port "$1") $(_route_port "$1")" ;;
    ferretdb) echo "$LSE_FERRETDB_PORT $LSE_FERRETDB_DEBUG_PORT" ;;
    minio) echo "$LSE_MINIO_PORT" ;;
  esac
}
_pidfile() { echo "$LSE_STATE_DIR/run/$1.pid"; }
_logfile() { echo "$LSE_STATE_DIR/logs/$1.log"; }
_credfile() { echo "$LSE_STATE_DIR/minio-credentials.env"; }

# _running NAME [quiet] -> prints the pid and succeeds if NAME's pid file names a
# live process running our binary; removes a stale pid file (saying so unless quiet).
# A zombie (state Z) has exited: it only waits for its new parent to reap it.
_running() {
  local name=$1 quiet=${2:-} pidfile pid state argv0
  pidfile=$(_pidfile "$name")
  [[ -f "$pidfile" ]] || return 1
  pid=$(<"$pidfile")
  if [[ "$pid" =~ ^[0-9]+$ && -r "/proc/$pid/stat" ]]; then
    state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null || true)
    argv0=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -n 1 || true)
    if [[ "$state" != Z && "$argv0" == "$(_binary "$name")" ]]; then
      echo "$pid"
      return 0
    fi
  fi
  [[ -n "$quiet" ]] || _log "$name: removing stale pid file (pid '$pid' is not running $(_binary "$name"))"
  rm -f "$pidfile"
  return 1
}

# _port_open PORT -> succeeds if something accepts TCP connections on loopback PORT.
_port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/$LSE_HOST/$1" 2>/dev/null
}

# _mongo_ping -> sends a real MongoDB OP_MSG {ping: 1, $db: "admin"} over /dev/tcp
# and succeeds if the reply document holds ok: 1 (double or int32).
_mongo_ping() {
  # shellcheck disable=SC2016  # the script is expanded by the inner bash, not here
  timeout 5 bash -c '
    exec 3<>"/dev/tcp/$1/$2" || exit 1
    # header: length 51, requestID 1, responseTo 0, opCode 2013 (OP_MSG);
    # flagBits 0; section kind 0; BSON {ping: int32 1, $db: "admin"} (30 bytes).
    printf "\x33\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\xdd\x07\x00\x00" >&3
    printf "\x00\x00\x00\x00\x00\x1e\x00\x00\x00\x10ping\x00\x01\x00\x00\x00" >&3
    printf "\x02\$db\x00\x06\x00\x00\x00admin\x00\x00" >&3
    len=$(dd bs=1 count=4 <&3 2>/dev/null | od -An -tu4 | tr -d " ")
    [[ "$len" =~ ^[0-9]+$ ]] && (( len > 4 && len < 65536 )) || exit 1
    body=$(dd bs=1 count=$((len - 4)) <&3 2>/dev/null | od -An -v -tx1 | tr -d " \n")
    [[ "$body" == *016f6b00000000000000f03f* || "$body" == *106f6b0001000000* ]]
  ' _ "$LSE_HOST" "$LSE_FERRETDB_PORT"
}

# _ready NAME -> succeeds if NAME answers its readiness check.
_ready() {
  case "$1" in
    nats) curl -fsS -o /dev/null --max-time 3 \
            "http://$LSE_HOST:$LSE_NATS_MONITOR_PORT/healthz?js-enabled-only=true" 2>/dev/null ;;
    # A cluster node is ready once it is in contact with a JetStream meta leader (before that,
    # creating a stream fails): the full /healthz checks that.
    nats-*) curl -fsS -o /dev/null --max-time 3 "http://$LSE_HOST:$(_monitor_port "$1")/healthz" 2>/dev/null ;;
    ferretdb) _port_open "$LSE_FERRETDB_PORT" && _mongo_ping ;;
    minio) curl -fsS -o /dev/null --max-time 3 \
             "http://$LSE_HOST:$LSE_MINIO_PORT/minio/health/ready" 2>/dev/null ;;
  esac
}

# _ensure_credentials -> generates the MinIO root credentials once (mode 0600).
_ensure_credentials() {
  local f
  f=$(_credfile)
  [[ -s "$f" ]] && return 0
  mkdir -p "$LSE_STATE_DIR"
  local key secret
  key="lse$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
  secret=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
  (umask 077; printf 'MINIO_ROOT_USER=%s\nMINIO_ROOT_PASSWORD=%s\n' "$key" "$secret" >"$f.tmp")
  mv -f "$f.tmp" "$f"
  _log "generated MinIO root credentials in $f"
}

# _load_credentials -> sets MINIO_ROOT_USER / MINIO_ROOT_PASSWORD (not exported).
_load_credentials() {
  _ensure_credentials
  MINIO_ROOT_USER=$(sed -n 's/^MINIO_ROOT_USER=//p' "$(_credfile)")
  MINIO_ROOT_PASSWORD=$(sed -n 's/^MINIO_ROOT_PASSWORD=//p' "$(_credfile)")
  [[ -n "$MINIO_ROOT_USER" && -n "$MINIO_ROOT_PASSWORD" ]] \
    || _die "$(_credfile) is malformed; delete it and its MinIO data dir ($LSE_STATE_DIR/data/minio) to start over"
}

# _nats_config NAME DATA -> writes run/NAME.conf, the nats-server configuration of NAME: listen and
# monitor addresses, JetStream store and fsync policy, and in cluster mode the cluster block with
# routes to every node (a route to itself is ignored by nats-server).
_nats_config() {
  local name=$1 data=$2 conf i routes=()
  conf="$LSE_STATE_DIR/run/$name.conf"
  [[ "$data$LSE_STATE_DIR" != *[\"\\]* ]] || _die "LSE_STATE_DIR must not contain '\"' or '\\' (it goes into $conf)"
  {
    printf '# written by infra/local/servers.sh at each start; edits are lost\n'
    printf 'server_name: "%s"\n' "$([[ $name == nats ]] && echo lse-local || echo "lse-local-${name#nats-}")"
    printf 'listen: "%s:%s"\n' "$LSE_HOST" "$(_port "$name")"
    printf 'http: "%s:%s"\n' "$LSE_HOST" "$(_monitor_port "$name")"
    printf 'jetstream {\n  store_dir: "%s"\n' "$data"
    # always: fsync before each PubAck (Jepsen's NATS 2.12.1 analysis lost acknowledged writes
    # with the default lazy fsync); default: nats-server's own (fsync every 2 minutes).
    [[ "$LSE_NATS_SYNC" == always ]] && printf '  sync_interval: always\n'
    printf '}\n'
    if [[ $name == nats-* ]]; then
      for ((i = 0; i < LSE_NATS_CLUSTER; i++)); do routes+=("\"nats-route://$LSE_HOST:$((LSE_NATS_ROUTE_PORT + i))\""); done
      printf 'cluster {\n  name: "lse-local"\n  listen: "%s:%s"\n  routes: [%s]\n}\n' \
        "$LSE_HOST" "$(_route_port "$name")" "$(IFS=,; echo "${routes[*]}")"
    fi
  } >"$conf.tmp"
  mv -f "$conf.tmp" "$conf"
  echo "$conf"
}

# _start NAME -> starts NAME detached, writes its pid file.
_start() {
  local name=$1 bin logfile data pid
  bin=$(_binary "$name")
  [[ -x "$bin" ]] || _die "$name: $bin not found; run infra/local/build-servers.sh first"
  local port
  for port in $(_all_ports "$name"); do
    if _port_open "$port"; then
      _die "$name: port $port on $LSE_HOST is already in use by another process; stop it or set other ports (see --help)"
    fi
  done
  logfile=$(_logfile "$name")
  data="$LSE_STATE_DIR/data/$name"
  mkdir -p "$data"
  printf '\n===== %s: starting %s =====\n' "$(date -u +%FT%TZ)" "$name" >>"$logfile"
  case "$name" in
    nats|nats-*)
      local conf
      conf=$(_nats_config "$name" "$data")
      "$bin" -c "$conf" -t >/dev/null 2>>"$logfile" || _die "$name: nats-server refuses $conf (see $logfile)"
      setsid "$bin" -c "$conf" </dev/null >>"$logfile" 2>&1 &
      pid=$! ;;
    ferretdb)
      setsid "$bin" --listen-addr="$LSE_HOST:$LSE_FERRETDB_PORT" \
        --debug-addr="$LSE_HOST:$LSE_FERRETDB_DEBUG_PORT" \
        --handler=sqlite --sqlite-url="file:$data/" --state-dir="$LSE_STATE_DIR/run" \
        --telemetry=disable --log-level=info </dev/null >>"$logfile" 2>&1 &
      pid=$! ;;
    minio)
      _load_credentials
      MINIO_ROOT_USER="$MINIO_ROOT_USER" MINIO_ROOT_PASSWORD="$MINIO_ROOT_PASSWORD" \
        MINIO_BROWSER=off MINIO_UPDATE=off MINIO_SITE_REGION="$LSE_S3_REGION" \
        setsid "$bin" server --address "$LSE_HOST:$LSE_MINIO_PORT" --anonymous \
        --certs-dir "$LSE_STATE_DIR/run/minio-certs" "$data" </dev/null >>"$logfile" 2>&1 &
      pid=$! ;;
  esac
  echo "$pid" >"$(_pidfile "$name")"
  _log "$name: started (pid $pid, log $logfile)"
}

# _wait_ready NAME -> waits up to LSE_READY_TIMEOUT seconds for NAME to be ready.
_wait_ready() {
  local name=$1 deadline=$((SECONDS + LSE_READY_TIMEOUT))
  while ! _ready "$name"; do
    if ! _running "$name" quiet >/dev/null; then
      tail -n 20 "$(_logfile "$name")" >&2 || true
      _die "$name exited during start-up (last log lines above; full log: $(_logfile "$name"))"
    fi
    if (( SECONDS >= deadline )); then
      tail -n 20 "$(_logfile "$name")" >&2 || true
      _die "$name is not ready after ${LSE_READY_TIMEOUT}s (still running; see $(_logfile "$name"), stop with 'servers.sh down')"
    fi
    sleep 0.5
  done
  _log "$name: ready on $LSE_HOST:$(_port "$name")"
}

# _nats_urls -> the client URLs of every nats node of this mode, comma-separated.
_nats_urls() {
  local name urls=()
  for name in "${LSE_NATS_NODES[@]}"; do urls+=("nats://$LSE_HOST:$(_port "$name")"); done
  (IFS=,; echo "${urls[*]}")
}

# _s3 METHOD PATH -> signed (SigV4) S3 request with curl; prints the HTTP status.
_s3() {
  _load_credentials
  local method=(-X "$1")
  [[ "$1" == HEAD ]] && method=(--head)
  curl -sS -o /dev/null -w '%{http_code}' --max-time 10 "${method[@]}" \
    --aws-sigv4 "aws:amz:$LSE_S3_REGION:s3" --user "$MINIO_ROOT_USER:$MINIO_ROOT_PASSWORD" \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
    "http://$LSE_HOST:$LSE_MINIO_PORT/$2"
}

_ensure_bucket() {
  local code
  code=$(_s3 HEAD "$LSE_S3_BUCKET") || _die "minio: HEAD bucket '$LSE_S3_BUCKET' failed to connect"
  case "$code" in
    200) _log "minio: bucket '$LSE_S3_BUCKET' exists" ;;
    404)
      code=$(_s3 PUT "$LSE_S3_BUCKET") || _die "minio: PUT bucket '$LSE_S3_BUCKET' failed to connect"
      [[ "$code" == 200 ]] || _die "minio: creating bucket '$LSE_S3_BUCKET' answered HTTP $code (see $(_logfile minio))"
      _log "minio: created bucket '$LSE_S3_BUCKET'" ;;
    *) _die "minio: HEAD bucket '$LSE_S3_BUCKET' answered HTTP $code (bad credentials in $(_credfile)?)" ;;
  esac
}

servers_up() {
  command -v curl >/dev/null 2>&1 || _die "curl is required"
  mkdir -p "$LSE_STATE_DIR/data" "$LSE_STATE_DIR/logs" "$LSE_STATE_DIR/run"
  _ensure_credentials
  local name pid
  for name in "${LSE_SERVERS[@]}"; do
    if pid=$(_running "$name"); then
      _log "$name: already running (pid $pid)"
    else
      _start "$name"
    fi
  done
  for name in "${LSE_SERVERS[@]}"; do _wait_ready "$name"; done
  _ensure_bucket
  _log "all up; clients: eval \"\$(${BASH_SOURCE[0]} env)\""
}

# FerretDB 1.24 (SQLite) creates its unique `_id` index on `_ferretdb_sjson->"_id"` but queries
# `WHERE _ferretdb_sjson->'$._id' = ?`; SQLite only uses an expression index whose expression
# matches the query's, so every `_id` lookup scans the table (an update at 3,000 documents of 4 KB:
# 30 ms; with the index: 1.7 ms, flat). This adds, for each collection FerretDB lists, an index on
# exactly the expression it queries. FerretDB does not know of it (it is not in its metadata) and
# needs no restart: SQLite's planner sees it at the next statement; dropping the collection drops it.
servers_id_indexes() {
  command -v sqlite3 >/dev/null 2>&1 || _die "sqlite3 is required (Debian package sqlite3; scripts/ensure-tools.sh installs it)"
  local dir="$LSE_STATE_DIR/data/ferretdb" file table n=0
  for file in "$dir"/*.sqlite; do
    [[ -e "$file" ]] || continue
    while IFS= read -r table; do
      [[ "$table" =~ ^[A-Za-z0-9_.]+$ ]] || { _log "id-indexes: skipping table name '$table'"; continue; }
      sqlite3 -cmd '.timeout 20000' "$file" \
        "CREATE INDEX IF NOT EXISTS \"${table}_lse_id\" ON \"$table\" (_ferretdb_sjson->'\$._id');" >/dev/null \
        || _die "id-indexes: could not index $table in $file"
      n=$((n + 1))
    done < <(sqlite3 -cmd '.timeout 20000' "$file" 'SELECT table_name FROM _ferretdb_collections;')
  done
  _log "ferretdb: _id lookups indexed in $n collection(s)"
}

servers_down() {
  local name pid pids=() names=() all=()
  # nats nodes of the other mode too, if they run (started with another LSE_NATS_CLUSTER)
  for name in "${_ALL_NATS[@]}"; do
    [[ " ${LSE_NATS_NODES[*]} " == *" $name "* || -f "$(_pidfile "$name")" ]] && all+=("$name")
  done
  all+=(ferretdb minio)
  for name in "${all[@]}"; do
    if pid=$(_running "$name"); then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid"); names+=("$name")
      _log "$name: sent SIGTERM to pid $pid"
    else
      _log "$name: not running"
    fi
  done
  local i deadline=$((SECONDS + 30))
  for i in "${!pids[@]}"; do
    while _running "${names[$i]}" quiet >/dev/null; do
      if (( SECONDS >= deadline )); then
        _log "${names[$i]}: still running after 30s; sending SIGKILL to pid ${pids[$i]}"
        kill -KILL "${pids[$i]}" 2>/dev/null || true
        sleep 1
        break
      fi
      sleep 0.2
    done
    rm -f "$(_pidfile "${names[$i]}")"
    _log "${names[$i]}: stopped"
  done
}

servers_status() {
  local name pid state all=0
  for name in "${LSE_SERVERS[@]}"; do
    if pid=$(_running "$name" 2>/dev/null); then
      if _ready "$name"; then state="up (pid $pid)"; else state="running but NOT ready (pid $pid)"; all=1; fi
    else
      state=down; all=1
    fi
    printf '%-9s %-16s %s\n' "$name" "$LSE_HOST:$(_port "$name")" "$state"
  done
  return "$all"
}

servers_env() {
  _load_credentials
  printf 'export %s=%q\n' \
    NATS_URL "$(_nats_urls)" \
    MONGO_URL "${LSE_EXTERNAL_MONGO_URL:-mongodb://$LSE_HOST:$LSE_FERRETDB_PORT}" \
    S3_ENDPOINT "http://$LSE_HOST:$LSE_MINIO_PORT" \
    S3_BUCKET "$LSE_S3_BUCKET" \
    S3_ACCESS_KEY_ID "$MINIO_ROOT_USER" \
    S3_SECRET_ACCESS_KEY "$MINIO_ROOT_PASSWORD" \
    S3_REGION "$LSE_S3_REGION"
  # Services replicate LSE_WORK and LSE_EVENTS on every node of the cluster.
  [[ "$LSE_NATS_CLUSTER" == 1 ]] || printf 'export %s=%q\n' LSE_STREAM_REPLICAS "${LSE_STREAM_REPLICAS:-$LSE_NATS_CLUSTER}"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  case "${1:-}" in
    up) servers_up ;;
    down) servers_down ;;
    status) servers_status ;;
    env) servers_env ;;
    id-indexes) servers_id_indexes ;;
    -h|--help|help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
fi
