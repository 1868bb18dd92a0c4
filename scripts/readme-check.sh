#!/usr/bin/env bash
# Runs the README's commands as a new user would and fails on the first error: in a fresh clone
# of this repository's committed HEAD, the "First commands" block (npm ci, npm run demo; npm test
# only with --with-test, since CI runs it anyway) and the whole "Distributed" block, whose stack
# gets its own state directory and ports, so it never meets a stack that is already running.
# The commands are read from README.md itself (the ```sh blocks under those headings), so the
# README cannot drift from what is checked.
#
#   bash scripts/readme-check.sh [--with-test] [--with-debian] [--keep]
#
# Ports: LSE_README_PORTS="NATS NATS_MONITOR FERRETDB FERRETDB_DEBUG MINIO GATEWAY"
# (default "31223 31823 31018 31089 31902 31081": below the kernel's ephemeral range, which starts
# at 32768, so no outgoing connection holds one of them by chance). --keep leaves the clone (and
# its logs) behind; after a failure it is always kept. --with-debian also runs both blocks of "Real software:
# Debian packages" (root, for chroot; the host's apt lists; downloads .debs from the archive;
# about 6 minutes, most of it importing the bookworm index) with an embedded store in the work
# dir. Not covered: the `lse` command reference, whose arguments are placeholders.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
with_test=false with_debian=false keep=false
for a in "$@"; do
  case "$a" in
    --with-test) with_test=true ;;
    --with-debian) with_debian=true ;;
    --keep) keep=true ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "readme-check: unknown argument $a (see --help)" >&2; exit 2 ;;
  esac
done
read -r p_nats p_mon p_ferret p_fdebug p_minio p_gw <<<"${LSE_README_PORTS:-31223 31823 31018 31089 31902 31081}"
[[ -n "${p_gw:-}" ]] || { echo "readme-check: LSE_README_PORTS needs six ports" >&2; exit 2; }

start=$(date +%s)
say() { printf '\n\033[1m[readme %4ss] %s\033[0m\n' "$(( $(date +%s) - start ))" "$*" >&2; }

work=$(mktemp -d -t lse-readme.XXXXXX)
clone="$work/lse"
stack_started=false
finish() {
  local rc=$?
  if $stack_started; then (cd "$clone" && bash infra/local/stack.sh down >/dev/null 2>&1) || true; fi
  if [[ $rc -eq 0 && $keep == false ]]; then
    rm -rf "$work"
  else
    say "left in $work (stack state and logs: $work/state)"
  fi
  if [[ $rc -eq 0 ]]; then say "README commands passed"; else say "FAILED (exit $rc)"; fi
  exit "$rc"
}
trap finish EXIT

# The lines of the N-th (default first) ```sh block after the heading that starts with "## $1",
# before the next heading.
block() {
  awk -v h="## $1" -v want="${2:-1}" '
    index($0, h) == 1 { found = 1; next }
    found && /^## / { exit }
    found && /^```sh/ { n++; inside = (n == want); next }
    inside && /^```/ { exit }
    inside { print }
  ' "$clone/README.md"
}

# Runs a block's lines with bash -e, echoing each one before it runs (not what eval expands:
# the stack's credentials stay off the terminal). README lines are one command each.
run_block() {
  local name=$1 file="$work/$2.sh" line n=0
  echo 'set -euo pipefail' >"$file"
  while IFS= read -r line; do
    [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
    printf 'printf "\\n+ %%s\\n" %q >&2\n%s\n' "$line" "$line" >>"$file"
    n=$((n + 1))
  done
  (( n )) || { echo "readme-check: README.md has no \`\`\`sh block under '## $name'" >&2; exit 1; }
  say "README: $name ($n commands)"
  (cd "$clone" && bash "$file")
}

say "fresh clone of $(git -C "$repo" rev-parse --short HEAD) into $clone"
git clone -q --no-hardlinks "$repo" "$clone"

first=$(block 'First commands')
if ! $with_test; then
  first=$(printf '%s\n' "$first" | sed 's/^npm test\b.*/echo "(npm test skipped: CI runs it; --with-test to include it)"/')
fi
printf '%s\n' "$first" | run_block 'First commands' first

export LSE_STATE_DIR="$work/state" LSE_NATS_PORT=$p_nats LSE_NATS_MONITOR_PORT=$p_mon LSE_FERRETDB_PORT=$p_ferret
export LSE_FERRETDB_DEBUG_PORT=$p_fdebug LSE_MINIO_PORT=$p_minio LSE_GATEWAY_PORT=$p_gw
stack_started=true
block 'Distributed' | run_block 'Distributed (own stack: gateway port '"$p_gw"', state '"$LSE_STATE_DIR"')' distributed
stack_started=false
for layout in image app-config; do
  [[ -f "$clone/$layout/index.json" ]] || { echo "readme-check: the distributed example left no OCI layout in $layout/" >&2; exit 1; }
done

if $with_debian; then
  [[ $(id -u) -eq 0 ]] || { echo "readme-check: --with-debian needs root (the README's chroot)" >&2; exit 1; }
  export LSE_HOME="$work/store"
  unset LSE_SERVER LSE_TOKEN
  block 'Real software' 1 | run_block "Real software: Debian packages (embedded store $LSE_HOME)" debian
  block 'Real software' 2 | run_block 'Real software: a whole distribution index' debian-index
fi
