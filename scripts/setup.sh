#!/usr/bin/env bash
# Everything a fresh Debian machine lacks to build, test and run Wisp: Debian chromium (its
# SwiftShader Vulkan driver gives WebGPU without a GPU, and Playwright drives it), the Vulkan loader
# for Dawn in Node, pnpm, and the workspace's dependencies. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
ldconfig -p | grep -q 'libvulkan.so.1 ' || need+=(libvulkan1)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]} (Debian)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
test -f /usr/lib/chromium/vk_swiftshader_icd.json || { echo "setup: chromium has no SwiftShader ICD" >&2; exit 1; }

want_pnpm=$(node -p "require('./package.json').packageManager.split('@')[1]")
if [ "$(pnpm --version 2>/dev/null || true)" != "$want_pnpm" ]; then
  echo "setup: installing pnpm $want_pnpm"
  npm install -g "pnpm@$want_pnpm" >/dev/null
fi
pnpm install --frozen-lockfile
