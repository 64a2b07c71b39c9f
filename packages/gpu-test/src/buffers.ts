// Test buffers: inputs uploaded once; outputs poisoned before the run and followed by sentinel words
// that must survive it (catches out-of-bounds writes, like ggml's op tests).

export const SENTINEL_WORDS = 64;
export const SENTINEL = 0x5e17_1e1f;
/** A NaN bit pattern: any output word a kernel fails to write stays NaN and fails the comparison. */
export const POISON = 0x7fc0_dead;

// Read at call time: in Node the GPU* globals exist only once the Dawn module is loaded.
const rw = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

export type Words = Float32Array | Uint32Array | Int32Array;

export function uploadBuffer(device: GPUDevice, data: Words, usage = rw()): GPUBuffer {
  const size = Math.max(16, Math.ceil(data.byteLength / 16) * 16);
  const buffer = device.createBuffer({ size, usage, mappedAtCreation: true });
  new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  buffer.unmap();
  return buffer;
}

export function uniformBuffer(device: GPUDevice, data: Words): GPUBuffer {
  return uploadBuffer(device, data, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
}

/** An output of `words` u32/f32 elements, poisoned, followed by SENTINEL_WORDS sentinels. */
export interface GuardedOutput {
  buffer: GPUBuffer;
  words: number;
}

export function guardedOutput(device: GPUDevice, words: number, poison = POISON): GuardedOutput {
  const init = new Uint32Array(words + SENTINEL_WORDS);
  init.fill(poison, 0, words);
  init.fill(SENTINEL, words);
  return { buffer: uploadBuffer(device, init), words };
}

export async function readWords(device: GPUDevice, buffer: GPUBuffer, words: number): Promise<Uint32Array> {
  const size = Math.ceil((words * 4) / 4) * 4;
  const staging = device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(buffer, 0, staging, 0, size);
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = new Uint32Array(staging.getMappedRange().slice(0));
  staging.unmap();
  staging.destroy();
  return out;
}

/** Reads a guarded output, throws if any sentinel word changed, returns the payload words. */
export async function readGuarded(device: GPUDevice, out: GuardedOutput): Promise<Uint32Array> {
  const all = await readWords(device, out.buffer, out.words + SENTINEL_WORDS);
  for (let i = out.words; i < all.length; i++) {
    if (all[i] !== SENTINEL) {
      throw new Error(`out-of-bounds write: sentinel word ${i - out.words} after ${out.words} output words`);
    }
  }
  return all.subarray(0, out.words);
}

export async function readGuardedF32(device: GPUDevice, out: GuardedOutput): Promise<Float32Array> {
  const words = await readGuarded(device, out);
  return new Float32Array(words.buffer, words.byteOffset, words.length);
}
