// The staging-ring uploader (src/model/upload.ts) on a real device: every byte lands where it was
// written (read back and compared, with sentinels after each region), across slot boundaries and
// wrap-arounds of a deliberately tiny ring, in queue order with later submits; bad offsets and sizes
// are typed errors that write nothing.

import { readWords, withErrorScopes } from "@wisp/gpu-test";
import { nodeDevice } from "@wisp/gpu-test/node";
import { beforeAll, describe, expect, it } from "vitest";
import { Uploader } from "../src/model/upload.ts";

let device: GPUDevice;
beforeAll(async () => {
  ({ device } = await nodeDevice());
});

const SENT = 0xa5;

/** A destination pre-filled with SENT bytes. */
function target(size: number): GPUBuffer {
  const b = device.createBuffer({
    size,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC,
    mappedAtCreation: true,
  });
  new Uint8Array(b.getMappedRange()).fill(SENT);
  b.unmap();
  return b;
}

function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = s & 0xff;
  }
  return out;
}

/** The first index where a and b differ (-1: equal); toEqual on tens of MB of bytes takes minutes. */
function firstDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

async function read(b: GPUBuffer): Promise<Uint8Array> {
  const w = await readWords(device, b, b.size / 4);
  return new Uint8Array(w.buffer, w.byteOffset, b.size);
}

/** Writes `writes` (buffer index, offset, length) through an uploader of `slot` bytes × `slots`, then
 * checks every buffer against a host mirror (untouched bytes keep SENT). */
async function roundTrip(
  slot: number,
  slots: number,
  sizes: number[],
  writes: Array<[number, number, number]>,
) {
  await withErrorScopes(device, async () => {
    const bufs = sizes.map(target);
    const mirror = sizes.map((n) => new Uint8Array(n).fill(SENT));
    const up = new Uploader(device, slot, slots);
    try {
      for (const [j, [bi, off, n]] of writes.entries()) {
        const data = bytes(n, 7 + j);
        await up.write(bufs[bi]!, off, data);
        data.fill(0); // the caller may reuse its bytes once write() resolves
        mirror[bi]!.set(bytes(n, 7 + j), off);
      }
      await up.done();
      for (const [i, b] of bufs.entries())
        expect(firstDiff(await read(b), mirror[i]!), `buffer ${i}`).toBe(-1);
      expect(up.stats.bytes).toBe(writes.reduce((s, w) => s + w[2], 0));
    } finally {
      up.destroy();
      for (const b of bufs) b.destroy();
    }
  });
}

describe("Uploader", () => {
  it("one small write, smaller than a slot", () => roundTrip(1024, 2, [64], [[0, 8, 12]]));

  it("a write of exactly one slot, and one of a slot + 4 bytes", () =>
    roundTrip(
      256,
      2,
      [1024],
      [
        [0, 0, 256],
        [0, 512, 260],
      ],
    ));

  it("a write many times the ring (waits for slots the GPU still reads)", () =>
    roundTrip(64, 2, [4096 + 16], [[0, 16, 4096]]));

  it("many small writes packed into shared slots, across buffers, overlapping (last write wins)", () =>
    roundTrip(
      96,
      3,
      [200, 52, 4000],
      [
        [0, 0, 4],
        [1, 0, 52],
        [2, 3996, 4],
        [0, 4, 196],
        [2, 0, 2000],
        [2, 1000, 1000], // overwrites part of the previous write
        [0, 100, 8],
        [2, 2000, 2000],
      ],
    ));

  it("random writes at random offsets on the default ring (16 MiB × 4), a 40 MiB buffer", async () => {
    const size = 40 << 20;
    const writes: Array<[number, number, number]> = [];
    let s = 99;
    const rnd = (n: number) => {
      s = (s * 1103515245 + 12345) >>> 0;
      return s % n;
    };
    for (let i = 0; i < 12; i++) {
      const n = 4 * (1 + rnd(i < 3 ? (20 << 20) / 4 : 4096));
      writes.push([0, 4 * rnd((size - n) / 4 + 1), n]);
    }
    await roundTrip(16 << 20, 4, [size], writes);
  });

  it("writes issued together (not awaited one by one) all land", async () => {
    await withErrorScopes(device, async () => {
      const dst = target(8192);
      const up = new Uploader(device, 96, 2);
      try {
        const parts = [0, 1, 2, 3].map((j) => bytes(2048, 40 + j));
        await Promise.all(parts.map((p, j) => up.write(dst, j * 2048, p)));
        await up.done();
        const want = new Uint8Array(8192);
        for (const [j, p] of parts.entries()) want.set(p, j * 2048);
        expect(firstDiff(await read(dst), want)).toBe(-1);
      } finally {
        up.destroy();
        dst.destroy();
      }
    });
  });

  it("flush() orders the copies before work submitted after it", async () => {
    await withErrorScopes(device, async () => {
      const dst = target(256);
      const after = target(256);
      const up = new Uploader(device, 1024, 2);
      try {
        const data = bytes(256, 3);
        await up.write(dst, 0, data);
        up.flush();
        const enc = device.createCommandEncoder();
        enc.copyBufferToBuffer(dst, 0, after, 0, 256);
        device.queue.submit([enc.finish()]);
        expect(firstDiff(await read(after), data)).toBe(-1);
        await up.done();
      } finally {
        up.destroy();
        dst.destroy();
        after.destroy();
      }
    });
  });

  it("bad offsets and sizes are RangeErrors and write nothing", async () => {
    await withErrorScopes(device, async () => {
      const dst = target(64);
      const up = new Uploader(device, 128, 2);
      try {
        await expect(up.write(dst, 2, new Uint8Array(4))).rejects.toThrow(RangeError);
        await expect(up.write(dst, 0, new Uint8Array(6))).rejects.toThrow(/multiples of 4/);
        await expect(up.write(dst, 60, new Uint8Array(8))).rejects.toThrow(/overruns a 64-byte buffer/);
        await up.done();
        expect(up.stats.bytes).toBe(0);
        expect(firstDiff(await read(dst), new Uint8Array(64).fill(SENT))).toBe(-1);
      } finally {
        up.destroy();
        dst.destroy();
      }
      expect(() => new Uploader(device, 6, 2)).toThrow(RangeError);
    });
  });

  it("a write waiting on the ring when it is destroyed (an unload mid-stream) fails; later writes too", async () => {
    await withErrorScopes(device, async () => {
      const dst = target(4096);
      const up = new Uploader(device, 64, 2);
      const pending = up.write(dst, 0, bytes(4096, 5)); // needs 64 slot fills: waits on mapAsync
      up.destroy();
      await expect(pending).rejects.toThrow(/destroyed uploader/);
      await expect(up.write(dst, 0, new Uint8Array(4))).rejects.toThrow(/destroyed uploader/);
      await device.queue.onSubmittedWorkDone();
      dst.destroy();
    });
  });
});
