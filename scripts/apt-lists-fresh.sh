#!/usr/bin/env bash
# The Debian tests import from the host's apt lists, and imports refuse an InRelease past its
# Valid-Until (docs/DEBIAN.md, "Debian's chain of trust"). This refreshes the lists when one has
# expired or will within a day: `apt-get update` as root, else a message saying what to run.
set -euo pipefail
lists=/var/lib/apt/lists
[[ -d "$lists" ]] || exit 0
soon=$(( $(date +%s) + 86400 ))
stale=()
for f in "$lists"/*InRelease; do
  [[ -e "$f" ]] || continue
  until_line=$(grep -m1 '^Valid-Until:' "$f" || true)
  [[ -n "$until_line" ]] || continue
  t=$(date -d "${until_line#Valid-Until: }" +%s 2>/dev/null || echo 0)
  (( t < soon )) && stale+=("$(basename "$f")")
done
(( ${#stale[@]} )) || exit 0
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "[apt] lists past (or within a day of) Valid-Until: ${stale[*]}; running apt-get update" >&2
  apt-get update -qq
else
  echo "[apt] lists past (or within a day of) Valid-Until: ${stale[*]}; run 'sudo apt-get update' before the Debian tests" >&2
fi
