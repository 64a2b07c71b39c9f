// Shared plumbing for every kernel: explicit bind group layouts (so a layout can be reused and no
// binding is dropped as with layout: "auto"), a per-device pipeline cache keyed by source + override
// constants, and uniform packing. Pipelines and bind groups are made at load time; the token loop
// only encodes dispatches.

export type BindingKind = "uniform" | "read-only-storage" | "storage";

export interface KernelSource {
  /** File stem of the .wgsl, used in labels and cache keys. */
  name: string;
  code: string;
  entryPoint?: string;
  /** @group(0) @binding(i) kinds, in binding order. */
  bindings: readonly BindingKind[];
}

export type Constants = Record<string, number>;

export interface Dispatch {
  label: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: readonly [number, number, number];
}

interface Compiled {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

const cache = new WeakMap<GPUDevice, Map<string, Compiled>>();
const modules = new WeakMap<GPUDevice, Map<string, GPUShaderModule>>();

function layoutFor(device: GPUDevice, src: KernelSource): GPUBindGroupLayout {
  return device.createBindGroupLayout({
    label: src.name,
    entries: src.bindings.map((type, binding) => ({
      binding,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type },
    })),
  });
}

function compiledCache(device: GPUDevice): Map<string, Compiled> {
  let perDevice = cache.get(device);
  if (!perDevice) {
    perDevice = new Map();
    cache.set(device, perDevice);
  }
  return perDevice;
}

const pipelineKey = (src: KernelSource, constants: Constants) =>
  `${src.name}|${src.entryPoint ?? "main"}|${JSON.stringify(constants)}`;

export function compile(device: GPUDevice, src: KernelSource, constants: Constants = {}): Compiled {
  const key = pipelineKey(src, constants);
  const perDevice = compiledCache(device);
  const hit = perDevice.get(key);
  if (hit) return hit;
  const compiled = pipelineDescriptor(device, src, constants, key);
  const made = { pipeline: device.createComputePipeline(compiled.desc), layout: compiled.layout };
  perDevice.set(key, made);
  return made;
}

/**
 * compile() without blocking: the driver may build several pipelines at once (the autotuner's
 * candidates). The result lands in the same cache, so a later compile()/makeDispatch is a hit.
 */
export async function compileAsync(
  device: GPUDevice,
  src: KernelSource,
  constants: Constants = {},
): Promise<void> {
  const key = pipelineKey(src, constants);
  const perDevice = compiledCache(device);
  if (perDevice.has(key)) return;
  const { desc, layout } = pipelineDescriptor(device, src, constants, key);
  const pipeline = await device.createComputePipelineAsync(desc);
  if (!perDevice.has(key)) perDevice.set(key, { pipeline, layout });
}

/** Refuses a kernel with more storage bindings than the device allows per shader stage (8 guaranteed). */
export function checkStorageBuffers(device: GPUDevice, src: KernelSource): void {
  const n = src.bindings.filter((b) => b !== "uniform").length;
  const limit = device.limits.maxStorageBuffersPerShaderStage;
  if (n > limit) {
    throw new Error(
      `${src.name}: ${n} storage buffers > device limit maxStorageBuffersPerShaderStage ${limit}`,
    );
  }
}

function pipelineDescriptor(
  device: GPUDevice,
  src: KernelSource,
  constants: Constants,
  key: string,
): { desc: GPUComputePipelineDescriptor; layout: GPUBindGroupLayout } {
  checkStorageBuffers(device, src);
  let mods = modules.get(device);
  if (!mods) {
    mods = new Map();
    modules.set(device, mods);
  }
  let module = mods.get(src.name);
  if (!module) {
    module = device.createShaderModule({ label: src.name, code: src.code });
    mods.set(src.name, module);
  }
  const layout = layoutFor(device, src);
  return {
    layout,
    desc: {
      label: key,
      layout: device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: src.entryPoint ?? "main", constants },
    },
  };
}

export type Binding = GPUBuffer | GPUBufferBinding;

export function makeDispatch(
  device: GPUDevice,
  src: KernelSource,
  constants: Constants,
  buffers: readonly Binding[],
  workgroups: readonly [number, number, number],
): Dispatch {
  if (buffers.length !== src.bindings.length) {
    throw new Error(`${src.name}: ${buffers.length} buffers given, ${src.bindings.length} bindings declared`);
  }
  const { pipeline, layout } = compile(device, src, constants);
  const bindGroup = device.createBindGroup({
    label: src.name,
    layout,
    entries: buffers.map((b, binding) => ({
      binding,
      resource: "buffer" in b ? b : { buffer: b },
    })),
  });
  return { label: src.name, pipeline, bindGroup, workgroups };
}

export function encodeDispatch(pass: GPUComputePassEncoder, d: Dispatch): void {
  pass.setPipeline(d.pipeline);
  pass.setBindGroup(0, d.bindGroup);
  pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
}

/** Encodes dispatches in one compute pass and submits them (tests, one-off work at load). */
export function runDispatches(device: GPUDevice, dispatches: readonly Dispatch[]): void {
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  for (const d of dispatches) encodeDispatch(pass, d);
  pass.end();
  device.queue.submit([enc.finish()]);
}

/** A uniform field: a plain number is a u32, {f32} a float, {i32} a signed int. */
export type Field = number | { f32: number } | { i32: number };

/** Packs fields as 4-byte words (WGSL struct of u32/f32/i32 scalars), padded to 16 bytes. */
export function packUniform(fields: readonly Field[]): ArrayBuffer {
  const words = Math.max(4, Math.ceil(fields.length / 4) * 4);
  const buf = new ArrayBuffer(words * 4);
  const view = new DataView(buf);
  fields.forEach((f, i) => {
    if (typeof f === "number") {
      if (!Number.isInteger(f) || f < 0 || f > 0xffffffff)
        throw new Error(`uniform field ${i}: bad u32 ${f}`);
      view.setUint32(i * 4, f, true);
    } else if ("f32" in f) view.setFloat32(i * 4, f.f32, true);
    else view.setInt32(i * 4, f.i32, true);
  });
  return buf;
}

export function uniform(device: GPUDevice, label: string, fields: readonly Field[]): GPUBuffer {
  const data = packUniform(fields);
  const buffer = device.createBuffer({
    label,
    size: data.byteLength,
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
  });
  device.queue.writeBuffer(buffer, 0, data);
  return buffer;
}

export const ceilDiv = (a: number, b: number): number => Math.ceil(a / b);

/** Splits a 1-D workgroup count over x/y so neither exceeds the device limit. */
export function grid1d(device: GPUDevice, count: number): [number, number, number] {
  const max = device.limits.maxComputeWorkgroupsPerDimension;
  if (count <= max) return [count, 1, 1];
  const y = ceilDiv(count, max);
  return [ceilDiv(count, y), y, 1];
}
