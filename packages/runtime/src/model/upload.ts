// Host → GPU uploads through a ring of mapped staging buffers. queue.writeBuffer copies through a
// staging area Dawn allocates for each large write; freshly allocated host-visible memory is paid for
// in page faults, and it ran at 1.05–1.17 GB/s on an H100 (Dawn/Vulkan in Node), while the same bytes
// written into a few reused MAP_WRITE buffers and copied with copyBufferToBuffer ran at 6.6–6.8 GB/s
// (2026-11-22; host memcpy there: 10 GB/s). Weights load and stream through here.
//
// write() copies bytes into the current staging slot's mapped range and records the GPU copy; a full
// slot is unmapped, its copies submitted, and it is mapped again (mapAsync resolves once the GPU has
// read it). Copies are ordered on the queue when their slot is submitted: flush() submits the partly
// filled slot, so work submitted after flush() sees every byte written before it. Writes may be
// issued without awaiting each other (each chunk goes into whichever slot is current when it is
// mapped); overlapping ones then land in no defined order.

/** 16 MiB slots × 4: the H100 measurement's plateau (4 MiB × 8: 5.8–6.3 GB/s; 64 MiB × 4: 6.5–6.6). */
const SLOT_BYTES = 16 << 20;
const SLOTS = 4;

interface Copy {
  dst: GPUBuffer;
  dstOffset: number;
  srcOffset: number;
  size: number;
}

interface Slot {
  buffer: GPUBuffer;
  /** the mapped range while mapped; undefined while the GPU owns the slot */
  mapped: Uint8Array | undefined;
  /** resolves when the slot is mapped again */
  ready: Promise<void>;
  used: number;
  copies: Copy[];
}

export interface UploadStats {
  /** bytes written since creation */
  bytes: number;
}

export class Uploader {
  readonly stats: UploadStats = { bytes: 0 };
  private readonly slots: Slot[];
  private current = 0;
  private failed: unknown;
  private destroyed = false;

  constructor(
    private readonly device: GPUDevice,
    readonly slotBytes = SLOT_BYTES,
    slotCount = SLOTS,
  ) {
    if (slotBytes % 4 !== 0 || slotBytes <= 0)
      throw new RangeError(`staging slot size ${slotBytes} is not a positive multiple of 4`);
    this.slots = Array.from({ length: slotCount }, (_, i) => {
      const buffer = device.createBuffer({
        label: `upload staging ${i}`,
        size: slotBytes,
        usage: GPUBufferUsage.MAP_WRITE | GPUBufferUsage.COPY_SRC,
        mappedAtCreation: true,
      });
      return {
        buffer,
        mapped: new Uint8Array(buffer.getMappedRange()),
        ready: Promise.resolve(),
        used: 0,
        copies: [],
      };
    });
  }

  /**
   * Copies `bytes` to `dst` at `dstOffset` (both multiples of 4, as for queue.writeBuffer). Resolves once
   * the bytes are in staging: `bytes` may be reused then. The GPU copy is queued when its slot fills or
   * at flush().
   */
  async write(dst: GPUBuffer, dstOffset: number, bytes: Uint8Array): Promise<void> {
    if (dstOffset % 4 !== 0 || bytes.byteLength % 4 !== 0) {
      throw new RangeError(
        `upload of ${bytes.byteLength} bytes at ${dstOffset}: both must be multiples of 4`,
      );
    }
    if (dstOffset + bytes.byteLength > dst.size) {
      throw new RangeError(
        `upload of ${bytes.byteLength} bytes at ${dstOffset} overruns a ${dst.size}-byte buffer`,
      );
    }
    this.alive();
    let done = 0;
    while (done < bytes.byteLength) {
      const slot = await this.mappedSlot();
      this.alive(); // destroy() during the await detached the mapped ranges
      // Another write() may have filled and submitted this slot during the await: take the next.
      if (!slot.mapped || slot !== this.slots[this.current]) continue;
      const n = Math.min(bytes.byteLength - done, this.slotBytes - slot.used);
      slot.mapped.set(bytes.subarray(done, done + n), slot.used);
      slot.copies.push({ dst, dstOffset: dstOffset + done, srcOffset: slot.used, size: n });
      slot.used += n;
      done += n;
      if (slot.used === this.slotBytes) this.submitSlot();
    }
    this.stats.bytes += bytes.byteLength;
  }

  /** Queues the copies of the partly filled slot: work submitted after this sees every write so far. */
  flush(): void {
    if (this.slots[this.current]!.used > 0) this.submitSlot();
  }

  /** flush(), then resolves when the GPU has made every copy (every slot is mapped again). */
  async done(): Promise<void> {
    this.flush();
    await Promise.all(this.slots.map((s) => s.ready));
    if (this.failed) throw this.failed;
  }

  /** Frees the staging buffers; a write() waiting for a slot then fails instead of writing. */
  destroy(): void {
    this.destroyed = true;
    for (const s of this.slots) s.buffer.destroy();
  }

  /** The current slot once it is mapped (waiting for the GPU to release it if need be). */
  private async mappedSlot(): Promise<Slot> {
    for (;;) {
      const slot = this.slots[this.current]!;
      if (slot.mapped) return slot;
      const ready = slot.ready;
      await ready;
      this.alive();
      if (this.failed) throw this.failed;
      // Another write() may have mapped, filled and resubmitted this slot during the await.
      if (slot.ready === ready && !slot.mapped) slot.mapped = new Uint8Array(slot.buffer.getMappedRange());
    }
  }

  private alive(): void {
    if (this.destroyed) throw new Error("upload through a destroyed uploader (its engine was unloaded)");
  }

  private submitSlot(): void {
    const slot = this.slots[this.current]!;
    slot.mapped = undefined;
    slot.buffer.unmap();
    const enc = this.device.createCommandEncoder({ label: "upload" });
    for (const c of slot.copies) enc.copyBufferToBuffer(slot.buffer, c.srcOffset, c.dst, c.dstOffset, c.size);
    this.device.queue.submit([enc.finish()]);
    slot.copies = [];
    slot.used = 0;
    slot.ready = slot.buffer.mapAsync(GPUMapMode.WRITE).catch((e: unknown) => {
      this.failed ??= e;
    });
    this.current = (this.current + 1) % this.slots.length;
  }
}
