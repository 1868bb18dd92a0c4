#!/usr/bin/env bash
# Build the registry clients the integration tests use against the gateway's /v2 (docs/REGISTRY.md)
# from the Go module proxy, into the same bin dir as the servers (build-servers.sh). A binary is
# rebuilt only when missing or at another version, so a second run is a no-op.
#
#   oras            oras.land/oras/cmd/oras                          referrers (`oras discover`)
#   cosign          github.com/sigstore/cosign/v2/cmd/cosign         `cosign verify --key`
#   oci-conformance github.com/opencontainers/distribution-spec/conformance (go test -c)
#
# Build times on the development machine (2 shared cores, module downloads included): oras 10 s,
# cosign 514 s, the conformance suite ~60 s. Versions may be overridden by the variables below.
set -euo pipefail

ORAS_VERSION="${LSE_ORAS_VERSION:-v1.3.6}"
COSIGN_VERSION="${LSE_COSIGN_VERSION:-v2.6.5}"
CONFORMANCE_VERSION="${LSE_CONFORMANCE_VERSION:-v0.0.0-20260831232431-97274622c111}"
BIN_DIR="${LSE_BIN_DIR:-$HOME/.cache/lse/bin}"

log() { printf '[build-registry-tools] %s\n' "$*" >&2; }
die() { printf '[build-registry-tools] ERROR: %s\n' "$*" >&2; exit 1; }

case "${1:-}" in
  -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  '') ;;
  *) die "unknown argument '$1' (try --help)" ;;
esac

command -v go >/dev/null 2>&1 || die "step 'check toolchain': 'go' is not on PATH; install Go >= 1.24"
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-trimpath"
mkdir -p "$BIN_DIR" || die "step 'create bin dir': cannot create $BIN_DIR"

# built_version BINARY MODULE -> the module version embedded in BINARY (main module or dependency).
built_version() {
  [[ -x "$1" ]] || return 0
  go version -m "$1" 2>/dev/null | awk -v m="$2" '($1 == "mod" || $1 == "dep") && $2 == m { print $3; exit }'
}

# build NAME PACKAGE MODULE VERSION: `go install PACKAGE@VERSION` into a temp dir, then moved in place.
build() {
  local name=$1 pkg=$2 module=$3 version=$4 start=$SECONDS tmp have
  have=$(built_version "$BIN_DIR/$name" "$module")
  if [[ "$have" == "$version" ]]; then log "$name $version: already built (skipping)"; return 0; fi
  log "$name: building $pkg@$version ..."
  tmp=$(mktemp -d "$BIN_DIR/.build-$name.XXXXXX")
  if ! GOBIN="$tmp" go install -p 2 "$pkg@$version"; then
    rm -rf "$tmp"; die "step 'build $name': go install $pkg@$version failed (see above)"
  fi
  mv -f "$tmp/$name" "$BIN_DIR/$name" && rm -rf "$tmp"
  log "$name $version: built in $((SECONDS - start))s -> $BIN_DIR/$name"
}

# The conformance suite is a Go test package: compiled with `go test -c` inside a throwaway
# module that requires it at the pinned version.
build_conformance() {
  local module=github.com/opencontainers/distribution-spec/conformance version=$1 start=$SECONDS tmp have
  have=$(built_version "$BIN_DIR/oci-conformance" "$module")
  if [[ "$have" == "$version" ]]; then log "oci-conformance $version: already built (skipping)"; return 0; fi
  log "oci-conformance: building $module@$version (go test -c) ..."
  tmp=$(mktemp -d "$BIN_DIR/.build-conformance.XXXXXX")
  if ! (cd "$tmp" && go mod init lse.local/conformance >/dev/null 2>&1 \
        && go get "$module@$version" >/dev/null \
        && go test -c -p 2 -o "$tmp/oci-conformance" "$module"); then
    rm -rf "$tmp"; die "step 'build oci-conformance': go test -c $module@$version failed (see above)"
  fi
  mv -f "$tmp/oci-conformance" "$BIN_DIR/oci-conformance" && rm -rf "$tmp"
  have=$(built_version "$BIN_DIR/oci-conformance" "$module")
  [[ "$have" == "$version" ]] || log "oci-conformance: the test binary reports '$have' for $module (expected $version)"
  log "oci-conformance $version: built in $((SECONDS - start))s -> $BIN_DIR/oci-conformance"
}

build oras oras.land/oras/cmd/oras oras.land/oras "$ORAS_VERSION"
build cosign github.com/sigstore/cosign/v2/cmd/cosign github.com/sigstore/cosign/v2 "$COSIGN_VERSION"
build_conformance "$CONFORMANCE_VERSION"
