#!/usr/bin/env bash
# Build the real servers LSE's distributed part needs (NATS JetStream, FerretDB on
# SQLite, MinIO) from source with the Go toolchain, into a bin dir outside the repo.
# A binary is rebuilt only when it is missing or its embedded module version (read
# with `go version -m`) differs from the pinned one, so a second run is a no-op.
set -euo pipefail

usage() {
  cat <<EOF
Usage: infra/local/build-servers.sh [--with-clients] [--help]

Builds into \${LSE_BIN_DIR:-\$HOME/.cache/lse/bin} (now: $BIN_DIR):
  nats-server  github.com/nats-io/nats-server/v2         $NATS_SERVER_VERSION  (LSE_NATS_SERVER_VERSION)
  ferretdb     github.com/FerretDB/FerretDB/cmd/ferretdb $FERRETDB_VERSION  (LSE_FERRETDB_VERSION)
  minio        github.com/minio/minio                    $MINIO_VERSION  (LSE_MINIO_VERSION)
With --with-clients, also the optional CLIs used for manual checks:
  nats         github.com/nats-io/natscli/nats           $NATSCLI_VERSION  (LSE_NATSCLI_VERSION)
  mc           github.com/minio/mc                       $MC_VERSION  (LSE_MC_VERSION)

A version may be overridden by the variable in brackets ("latest" is resolved
through the Go module proxy). Needs go >= 1.24 and the Go module proxy.
A binary already at the pinned version is not rebuilt.
EOF
}

# Pinned versions. nats-server must be >= 2.10.23 (JetStream features LSE relies on).
NATS_SERVER_VERSION="${LSE_NATS_SERVER_VERSION:-v2.15.3}"
FERRETDB_VERSION="${LSE_FERRETDB_VERSION:-v1.24.2}"
# MinIO publishes no semver module tags; its README says `go install ...@latest`.
# This pseudo-version is what @latest resolved to when this script was written
# (it builds with Go 1.24+, incl. 1.26); pinned so every machine gets the same server.
MINIO_VERSION="${LSE_MINIO_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}"
NATSCLI_VERSION="${LSE_NATSCLI_VERSION:-v0.5.1}"
MC_VERSION="${LSE_MC_VERSION:-v0.0.0-20250313080218-cf909e1063a9}"

BIN_DIR="${LSE_BIN_DIR:-$HOME/.cache/lse/bin}"

log() { printf '[build-servers] %s\n' "$*" >&2; }
die() { printf '[build-servers] ERROR: %s\n' "$*" >&2; exit 1; }

with_clients=0
for arg in "$@"; do
  case "$arg" in
    -h|--help) usage; exit 0 ;;
    --with-clients) with_clients=1 ;;
    *) usage >&2; die "unknown argument '$arg'" ;;
  esac
done

command -v go >/dev/null 2>&1 || die "step 'check toolchain': 'go' is not on PATH; install Go >= 1.24"

# Modest, reproducible builds: pure-Go static binaries, no local paths embedded,
# never download another toolchain, at most 2 packages compiled at once.
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-trimpath"
GO_PARALLEL=2

# resolve_version MODULE VERSION -> prints a concrete version ("latest" resolved).
resolve_version() {
  local module=$1 version=$2
  if [[ "$version" == latest ]]; then
    go list -m -f '{{.Version}}' "$module@latest" \
      || die "step 'resolve $module@latest': the Go module proxy did not answer"
  else
    printf '%s\n' "$version"
  fi
}

# built_version BINARY MODULE -> prints the module version embedded in BINARY, or nothing.
# FerretDB is built as the main module (see build_ferretdb), so go version -m says
# "(devel)" there; its own `--version` output is read instead.
built_version() {
  local bin=$1 module=$2
  [[ -x "$bin" ]] || return 0
  if [[ "$module" == github.com/FerretDB/FerretDB ]]; then
    "$bin" --version 2>/dev/null | awk '$1 == "version:" { print $2 }'
  else
    go version -m "$bin" 2>/dev/null | awk -v m="$module" '$1 == "mod" && $2 == m { print $3 }'
  fi
}

# already_built NAME MODULE VERSION -> true (and says so) when the binary is current.
already_built() {
  local name=$1 module=$2 version=$3 have
  have=$(built_version "$BIN_DIR/$name" "$module")
  if [[ "$have" == "$version" ]]; then
    log "$name $version: already built at $BIN_DIR/$name (skipping)"
    return 0
  fi
  log "$name: building $module@$version${have:+ (replacing $have)} ..."
  return 1
}

# install_binary NAME MODULE VERSION TMPDIR START -> moves TMPDIR/NAME into place, verifies.
install_binary() {
  local name=$1 module=$2 version=$3 tmp=$4 start=$5 have
  [[ -x "$tmp/$name" ]] || { rm -rf "$tmp"; die "step 'build $name': the build produced no '$name' binary"; }
  mv -f "$tmp/$name" "$BIN_DIR/$name"
  rm -rf "$tmp"
  have=$(built_version "$BIN_DIR/$name" "$module")
  [[ "$have" == "$version" ]] \
    || die "step 'verify $name': binary reports version '$have', expected '$version'"
  log "$name $version: built in $((SECONDS - start))s -> $BIN_DIR/$name"
}

# build NAME PACKAGE MODULE VERSION: plain `go install PACKAGE@VERSION`.
build() {
  local name=$1 pkg=$2 module=$3 version tmp start=$SECONDS
  version=$(resolve_version "$module" "$4")
  already_built "$name" "$module" "$version" && return 0
  tmp=$(mktemp -d "$BIN_DIR/.build-$name.XXXXXX")
  if ! GOBIN="$tmp" go install -p "$GO_PARALLEL" "$pkg@$version"; then
    rm -rf "$tmp"
    die "step 'build $name': go install $pkg@$version failed (see the compiler output above)"
  fi
  install_binary "$name" "$module" "$version" "$tmp" "$start"
}

# build_ferretdb VERSION: FerretDB's cmd/ferretdb panics at start-up unless
# build/version/version.txt holds its version, and the module zip ships that file
# empty, so `go install ...@version` gives a binary that cannot run. As FerretDB's
# build docs say, write version.txt into a copy of the module source and build there.
build_ferretdb() {
  local module=github.com/FerretDB/FerretDB version src tmp start=$SECONDS
  version=$(resolve_version "$module" "$1")
  already_built ferretdb "$module" "$version" && return 0
  src=$(go mod download -json "$module@$version" | awk -F'"' '$2 == "Dir" { print $4 }') \
    || die "step 'download ferretdb': go mod download $module@$version failed"
  [[ -d "$src" ]] || die "step 'download ferretdb': no source dir for $module@$version"
  tmp=$(mktemp -d "$BIN_DIR/.build-ferretdb.XXXXXX")
  if ! { cp -R "$src" "$tmp/src" && chmod -R u+w "$tmp/src"; }; then
    rm -rf "$tmp"
    die "step 'build ferretdb': cannot copy the module source to $tmp"
  fi
  printf '%s\n' "$version" > "$tmp/src/build/version/version.txt"
  printf 'lse-local\n' > "$tmp/src/build/version/package.txt"
  if ! (cd "$tmp/src" && go build -p "$GO_PARALLEL" -o "$tmp/ferretdb" ./cmd/ferretdb); then
    rm -rf "$tmp"
    die "step 'build ferretdb': go build ./cmd/ferretdb of $module@$version failed (see above)"
  fi
  install_binary ferretdb "$module" "$version" "$tmp" "$start"
}

mkdir -p "$BIN_DIR" || die "step 'create bin dir': cannot create $BIN_DIR"
log "bin dir: $BIN_DIR ($(go version))"

build nats-server github.com/nats-io/nats-server/v2 github.com/nats-io/nats-server/v2 "$NATS_SERVER_VERSION"
build_ferretdb "$FERRETDB_VERSION"
build minio github.com/minio/minio github.com/minio/minio "$MINIO_VERSION"
if (( with_clients )); then
  build nats github.com/nats-io/natscli/nats github.com/nats-io/natscli "$NATSCLI_VERSION"
  build mc github.com/minio/mc github.com/minio/mc "$MC_VERSION"
fi

log "done; disk used by $BIN_DIR: $(du -sh "$BIN_DIR" | cut -f1)"
