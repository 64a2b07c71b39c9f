// Builds the per-vocabulary penalty counts from a token history, on the GPU (run once per request
// for the prompt; the samplers then count each generated token themselves). Two entry points:
//   clear: counts[i] = 0 for i < V                       (one invocation per token)
//   main:  for each history slot i < min(history_len[0], max_history):
//            mode 0 (generated): atomicAdd(counts[id], 1)
//            mode 1 (prompt):    atomicOr(counts[id], 1 << 31)
// counts word: bit 31 = seen in the prompt, bits 0..30 = times generated (common.wgsl).
// Cost: clear writes 4 V bytes; main does one atomic per history token (ids >= V are ignored).
//
// history: (max_history) u32 token ids; history_len: [n] u32 (per step value, storage)
// counts:  (V) u32

override WG: u32 = 256u;

struct Shape {
  vocab: u32,
  max_history: u32,
  mode: u32,
}

@group(0) @binding(0) var<uniform> shape: Shape;
@group(0) @binding(1) var<storage, read> history: array<u32>;
@group(0) @binding(2) var<storage, read> history_len: array<u32>;
@group(0) @binding(3) var<storage, read_write> counts: array<atomic<u32>>;

@compute @workgroup_size(WG)
fn clear(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i < shape.vocab) {
    atomicStore(&counts[i], 0u);
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= min(history_len[0], shape.max_history)) {
    return;
  }
  let id = history[i];
  if (id >= shape.vocab) {
    return;
  }
  if (shape.mode == 1u) {
    atomicOr(&counts[id], 0x80000000u);
  } else {
    atomicAdd(&counts[id], 1u);
  }
}
