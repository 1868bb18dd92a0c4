#!/usr/bin/env bash
# The tools the tests need besides Node, and the Debian packages that provide them: the one list
# that `npm test` (scripts/test.sh) and CI (.ci/run) share.
#
#   bash scripts/ensure-tools.sh          install what is missing (root with apt-get), else fail
#   bash scripts/ensure-tools.sh --check  only say what is missing (exit 1 if anything is)
#
# As root on Debian/Ubuntu the missing packages are installed with apt-get (saying so); anywhere
# else the script fails at once with the command to run. Go (>= 1.24, for the local servers:
# infra/local/build-servers.sh) is checked but never installed: Debian 12's golang-go is 1.19.
set -euo pipefail

# tool on PATH -> Debian package that provides it
TOOLS=(
  skopeo:skopeo         # copies OCI layouts (CLI acceptance tests)
  umoci:umoci           # unpacks OCI images (CLI acceptance tests)
  dpkg-deb:dpkg         # Debian packages (import deb, dpkg database checks)
  curl:curl             # readiness checks of the local stack
  sqlite3:sqlite3       # indexes FerretDB's _id lookups (infra/local/servers.sh id-indexes)
  containerd:containerd # runs synthesized images
  runc:runc             # containerd's runtime
)

check_only=false
[[ "${1:-}" == "--check" ]] && check_only=true
say() { printf '[tools] %s\n' "$*" >&2; }
on_path() { PATH="$PATH:/usr/sbin:/sbin" command -v "$1" >/dev/null 2>&1; }

missing() {
  local pair
  for pair in "${TOOLS[@]}"; do on_path "${pair%%:*}" || printf '%s\n' "$pair"; done
}

go_problem() {
  command -v go >/dev/null 2>&1 || { echo "'go' is not on PATH"; return; }
  local v; v=$(go env GOVERSION 2>/dev/null | sed 's/^go//')
  local major=${v%%.*} rest=${v#*.}; local minor=${rest%%.*}
  if [[ ! "$major" =~ ^[0-9]+$ || ! "$minor" =~ ^[0-9]+$ ]] || (( major < 1 || (major == 1 && minor < 24) )); then
    echo "go $v is older than 1.24"
  fi
}

mapfile -t absent < <(missing)
if (( ${#absent[@]} )); then
  tools=(); pkgs=()
  for pair in "${absent[@]}"; do tools+=("${pair%%:*}"); pkgs+=("${pair#*:}"); done
  mapfile -t pkgs < <(printf '%s\n' "${pkgs[@]}" | sort -u)
  if $check_only; then
    say "missing: ${tools[*]} (Debian packages: ${pkgs[*]})"
    exit 1
  fi
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "not on PATH: ${tools[*]}; installing the Debian package(s) ${pkgs[*]} with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
    mapfile -t still < <(missing)
    if (( ${#still[@]} )); then
      say "still not on PATH after apt-get install: ${still[*]%%:*}"
      exit 1
    fi
    say "installed ${pkgs[*]}"
  else
    say "not on PATH: ${tools[*]}; the tests need them. Install them first, e.g. on Debian/Ubuntu:"
    say "  sudo apt-get install -y ${pkgs[*]}"
    say "(run as root with apt-get available, this script installs them itself)"
    exit 1
  fi
fi

if problem=$(go_problem) && [[ -n "$problem" ]]; then
  say "$problem: the integration tests build nats-server, FerretDB and MinIO with Go >= 1.24 (infra/local/build-servers.sh);"
  say "  install it from https://go.dev/dl/ (Debian 12's golang-go is 1.19, too old) and put it on PATH"
  exit 1
fi
