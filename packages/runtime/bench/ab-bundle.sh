#!/usr/bin/env bash
# Builds the model bench of another git revision next to this tree's, for an in-step A/B on the lent
# GPU: a kernel change is judged by the decode step's GPU time (model-bench --profile), with both
# builds alternated in one device call, never by its isolated kernel time alone (ARCHITECTURE.md,
# "Raw loads ahead": GEMV splits that were faster alone made the step 8-10% slower).
#   bash packages/runtime/bench/ab-bundle.sh <rev> [name]   (name defaults to "base")
# writes .device/app/model-bench-<name>.mjs (run pack.sh for this tree's model-bench.mjs first, see
# README). Then on the GPU machine, carrying .device:
#   source .device/setup.sh && for b in base new new base; do
#     f=.device/app/model-bench-$b.mjs; [ $b = new ] && f=.device/app/model-bench.mjs
#     echo "== $b"; node $f --profile llama | grep -E 'decode@128|on the GPU'; done
set -euo pipefail
rev=${1:?usage: ab-bundle.sh <rev> [name]}
name=${2:-base}
root=$(git rev-parse --show-toplevel)
work=$(mktemp -d /tmp/wisp-ab.XXXXXX)
trap 'git -C "$root" worktree remove --force "$work" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$root" worktree add --detach "$work" "$rev" >/dev/null
# Reuse this tree's installed packages, except the workspace links (@wisp/*): those are relative
# symlinks and must resolve inside the worktree, or the bundle would hold this tree's kernels.
for nm in $(cd "$root" && find . -maxdepth 3 -name node_modules -type d -not -path "*/node_modules/*"); do
  mkdir -p "$work/$nm"
  for e in "$root/$nm"/* "$root/$nm"/.bin "$root/$nm"/.pnpm "$root/$nm"/.modules.yaml; do
    [ -e "$e" ] || continue
    n=$(basename "$e")
    if [ "$n" = "@wisp" ]; then
      mkdir -p "$work/$nm/@wisp"
      for w in "$e"/*; do ln -s "$(readlink "$w")" "$work/$nm/@wisp/$(basename "$w")"; done
    else
      ln -s "$e" "$work/$nm/$n"
    fi
  done
done
(cd "$work/packages/runtime" && pnpm exec vite build --config bench/vite.config.ts --logLevel warn)
mkdir -p "$root/.device/app"
cp "$work/packages/runtime/dist/model-bench.mjs" "$root/.device/app/model-bench-$name.mjs"
echo "ab-bundle: .device/app/model-bench-$name.mjs is the model bench at $(git -C "$root" rev-parse --short "$rev")"
