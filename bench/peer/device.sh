#!/usr/bin/env bash
# Packs the peer bench for the lent GPU machine (see ../shared/DEVICE.md): bundles peer.mjs (webgpu
# external) with onnxruntime-web's two WebGPU EP builds beside it (brotli), into .device/app/peer/.
# pack.sh adds Node, Dawn and the Vulkan loader and keeps whatever else is under .device/app.
# Then on the GPU machine, carrying .device:
#   source .device/setup.sh && node .device/app/peer/peer.mjs --shape llama-3.2-1b
set -euo pipefail
root=$(git rev-parse --show-toplevel)
here="$root/bench/peer"
(cd "$here" && pnpm exec vite build --config vite.config.ts --logLevel warn)
rm -rf "$root/.device/app/peer"
bash "$root/../shared/device/pack.sh" "$here/dist/peer"
du -sh "$root/.device/app/peer" | sed 's/^/peer bench: /'
