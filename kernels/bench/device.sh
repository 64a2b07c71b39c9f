#!/usr/bin/env bash
# Packs the bundled kernel bench for the lent GPU machine (see ../shared/DEVICE.md). Then run there,
# carrying .device:
#   source .device/setup.sh && node .device/app/dist/kernel-tests.mjs && node .device/app/dist/bench.mjs
set -euo pipefail
root=$(git rev-parse --show-toplevel)
rm -rf "$root/.device/app/dist"
bash "$root/../shared/device/pack.sh" "$root/kernels/dist"
