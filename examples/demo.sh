#!/usr/bin/env bash
# End-to-end demo with the embedded store (no servers): keys, trust, three fragments, a base,
# a synthesis, and a look at what was built. Usage: npm run demo   (or bash examples/demo.sh)
# LSE_DEMO_DIR picks the working directory (default: a new temp dir, kept for inspection).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -f apps/cli/dist/main.js ] || npm run build --silent
demo=${LSE_DEMO_DIR:-$(mktemp -d -t lse-demo.XXXXXX)}
mkdir -p "$demo"
store="$demo/store"
lse() { node apps/cli/bin/lse.js --store "$store" "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. a publisher key, trusted for the example fragments only"
[ -f "$demo/keys/demo-publisher.key" ] || lse keys generate --name demo-publisher --out "$demo/keys" >/dev/null
lse trust add "$demo/keys/demo-publisher.pub" --scope 'hello-*' --scope 'app-*'

step "2. three signed fragments (app-config -> hello-app -> hello-data)"
key="$demo/keys/demo-publisher.key"
lse fragment pack examples/fragments/hello-data --name hello-data --version 1.2.0 --key "$key"
lse fragment pack examples/fragments/hello-app --name hello-app --version 1.0.3 --depends 'hello-data ^1.0.0' --key "$key"
lse fragment pack examples/fragments/app-config --name app-config --version 2.1.0 --depends 'hello-app >=1.0.0 <2' --key "$key"
lse fragment list

step "3. a base image from a rootfs tarball"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C examples/base-rootfs -cf "$demo/base-rootfs.tar" .
lse base import "$demo/base-rootfs.tar" --name minimal

step "4. resolve, then synthesize examples/web-api.yaml"
lse resolve examples/web-api.yaml
digest=$(lse synth examples/web-api.yaml --out "$demo/image" --rootfs "$demo/rootfs" --force)

step "5. what was built"
echo "image manifest digest: $digest"
echo "OCI layout:            $demo/image"
echo "root filesystem:       $demo/rootfs"
(cd "$demo/rootfs" && find . -type f | sort | sed 's/^/  /')
echo "greeting in the image: $(cat "$demo/rootfs/usr/share/hello/greeting.txt")"
if command -v skopeo >/dev/null; then
  skopeo inspect --config "oci:$demo/image:latest" | node -e 'const c=JSON.parse(require("fs").readFileSync(0,"utf8")); console.log("skopeo sees:", c.os+"/"+c.architecture, "entrypoint", JSON.stringify(c.config.Entrypoint), "layers", c.rootfs.diff_ids.length)'
fi
lse verify
