/**
 * The pure TypeScript arena engine: the algorithm of native/arena.cc over
 * JS-owned ArrayBuffer chunks, with the same results (the same blocks, offsets
 * and stats for the same calls). Used when the addon cannot load, when the
 * host forbids external ArrayBuffers (Electron's V8 sandbox), or with
 * FLATSTREAM_NATIVE=0.
 */
import type { ArenaEngine, ArenaStats } from '../contract';

/** Offset of the first 8-byte boundary at or after `offset` (any offset below 2^53). */
function align8(offset: number): number {
  return offset + (-offset & 7); // the low 3 bits of ToInt32(-offset) are right at any size
}

export class JsArenaEngine implements ArenaEngine {
  readonly native = false;
  readonly #chunkSize: number;
  /** [0, active) used since the last reset (the current one is active - 1), then free ones. */
  #chunks: ArrayBuffer[] = [];
  #active = 0;
  #offset = 0;
  #capacity = 0;
  #inUse = 0;
  #highWaterMark = 0;
  #chunksAllocated = 0;

  constructor(chunkSize: number) {
    this.#chunkSize = chunkSize;
  }

  block(size: number): Uint8Array | null {
    if (this.#active > 0) {
      const chunk = this.#chunks[this.#active - 1]!;
      const start = align8(this.#offset);
      if (start + size <= chunk.byteLength) return this.#bump(chunk, start, size);
    }
    return this.#takeFreeChunk(size) || this.#addChunk(size)
      ? this.#bump(this.#chunks[this.#active - 1]!, 0, size)
      : null;
  }

  reset(): void {
    this.#active = 0;
    this.#offset = 0;
    this.#inUse = 0;
  }

  shrinkTo(baseline: number): void {
    let kept = 0;
    for (let i = 0; i < this.#active; i++) kept += this.#chunks[i]!.byteLength;
    const held = this.#chunks.slice(0, this.#active);
    for (let i = this.#active; i < this.#chunks.length; i++) {
      const chunk = this.#chunks[i]!;
      if (kept + chunk.byteLength <= baseline) {
        kept += chunk.byteLength;
        held.push(chunk);
      }
    }
    this.#chunks = held;
    this.#capacity = kept;
    this.#highWaterMark = this.#inUse;
  }

  stats(): ArenaStats {
    return {
      capacity: this.#capacity,
      inUse: this.#inUse,
      highWaterMark: this.#highWaterMark,
      chunks: this.#chunks.length,
      chunksAllocated: this.#chunksAllocated,
    };
  }

  #bump(chunk: ArrayBuffer, start: number, size: number): Uint8Array {
    const end = start + size;
    this.#inUse += end - this.#offset;
    if (this.#inUse > this.#highWaterMark) this.#highWaterMark = this.#inUse;
    this.#offset = end;
    return new Uint8Array(chunk, start, size);
  }

  /** Makes the first free chunk that fits the current one (moved to just after the used ones). */
  #takeFreeChunk(size: number): boolean {
    const chunks = this.#chunks;
    for (let j = this.#active; j < chunks.length; j++) {
      if (chunks[j]!.byteLength < size) continue;
      const chunk = chunks[j]!; // rotate it into place without garbage (no splice)
      for (let k = j; k > this.#active; k--) chunks[k] = chunks[k - 1]!;
      chunks[this.#active] = chunk;
      this.#active++;
      this.#offset = 0;
      return true;
    }
    return false;
  }

  #addChunk(size: number): boolean {
    const bytes = Math.max(this.#chunkSize, size);
    let chunk: ArrayBuffer;
    try {
      chunk = new ArrayBuffer(bytes);
    } catch {
      return false; // RangeError: Array buffer allocation failed
    }
    this.#chunks.splice(this.#active, 0, chunk);
    this.#chunksAllocated++;
    this.#active++;
    this.#offset = 0;
    this.#capacity += bytes;
    return true;
  }
}
