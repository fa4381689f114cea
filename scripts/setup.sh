#!/usr/bin/env bash
# Installs what is missing and builds. Idempotent and quick when nothing is missing.
#   --test   also install the peers the end-to-end tests run against
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf 'setup: %s\n' "$*" >&2; }

packages=(clang llvm libbpf-dev libbpf1 bpftool)
if [ "${1:-}" = --test ]; then packages+=(nginx curl python3 gcc libc6-dev python3-grpcio python3-h2 nghttp2 unzip wrk hey podman runc mmdebstrap); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    say "missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})"
    exit 1
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

node_ok=$(node -e 'const [a,b]=process.versions.node.split(".").map(Number); console.log(a>20||(a===20&&b>=18)?1:0)' 2>/dev/null || echo 0)
if [ "$node_ok" != 1 ]; then
  say "Node.js >= 20.18 is needed (found: $(node --version 2>/dev/null || echo none))"
  exit 1
fi

# pnpm through corepack, at the version package.json pins. The registry's signing keys don't
# verify here, hence COREPACK_INTEGRITY_KEYS=0.
export COREPACK_INTEGRITY_KEYS=0 COREPACK_ENABLE_DOWNLOAD_PROMPT=0
if ! command -v pnpm >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then corepack enable >/dev/null 2>&1 || true; fi
pnpm=(corepack pnpm)
"${pnpm[@]}" install --frozen-lockfile --reporter=silent
"${pnpm[@]}" run --silent build
