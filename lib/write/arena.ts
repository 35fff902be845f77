/**
 * Arena: blocks of memory bump-allocated from large chunks, reset in O(1) and
 * reused, so that a steady state allocates no memory (docs/design.md, "Memory
 * and zero allocation"). It is
 * the memory behind ArenaBuilder.
 *
 * With the native addon, chunks are C++ memory (native/arena.h), each exposed
 * to JS once as an external ArrayBuffer that keeps the chunk alive for as long
 * as JS can see it. Where the addon is missing, or the host forbids external
 * ArrayBuffers (Electron's V8 sandbox), chunks are JS ArrayBuffers
 * (lib/engine/js/arena.ts) with the same algorithm and the same results.
 */
import { checkInteger, checkOptions } from '../format/args';
import { nativeExport } from '../engine/load';
import { ArenaLimits, ArenaSlot } from '../engine/contract';
import { JsArenaEngine } from '../engine/js/arena';

/** Options of an {@link Arena}. */
export interface ArenaOptions {
  /**
   * Chunk size in bytes (default 64 KiB, at least 64). A block larger than a
   * chunk gets a chunk of its own.
   */
  chunkSize?: number;
  /** Bytes that {@link Arena.shrink} keeps (default: one chunk). */
  baseline?: number;
}

export type { ArenaStats } from '../engine/contract';
import type { ArenaEngine, ArenaStats } from '../engine/contract';

/** Every block starts on a multiple of this many bytes. */
export const ARENA_BLOCK_ALIGN: number = ArenaLimits.blockAlign;
/** The largest block: 2 GiB, the FlatBuffers maximum. */
export const ARENA_MAX_BLOCK_SIZE: number = ArenaLimits.maxBlockSize;
const ALIGN_MASK = ArenaLimits.blockAlign - 1;
const DEFAULT_CHUNK_SIZE = 64 * 1024;
const MIN_CHUNK_SIZE = 64;

/**
 * native/binding/arena.cc. Every call takes `committed`: the offset up to
 * which JS has bump-allocated in the current chunk by itself.
 */
interface NativeArena {
  /** [chunk id, offset] after block(); capacity, inUse, highWaterMark, chunks, chunksAllocated after stats(). */
  readonly state: Float64Array;
  /** undefined, the new chunk's ArrayBuffer when the block opened one, or null when out of memory. */
  block(size: number, committed: number): ArrayBuffer | null | undefined;
  reset(committed: number): void;
  /** Returns the ids of the chunks still held. */
  shrinkTo(bytes: number, committed: number): number[];
  stats(committed: number): void;
}

/** @internal */
export interface NativeArenaClass {
  new (chunkSize: number): NativeArena;
  /** False where the host forbids external ArrayBuffers. */
  readonly externalBuffers: boolean;
  /** Chunks alive in the process, every arena included (tests). */
  liveChunks(): number;
}

const NO_CHUNK = new ArrayBuffer(0);

/**
 * Chunks are C++ memory; JS keeps one ArrayBuffer per chunk, by chunk id.
 * A block that fits in the current chunk is bump-allocated here, exactly as
 * C++ would (chunks are 64-byte aligned, so offsets align like addresses);
 * C++ is called only for a block that does not fit: one crossing per chunk
 * rather than per block, which makes block() about 4x faster (~60 ns per
 * crossing against ~20 ns for a whole block()).
 */
class NativeArenaEngine implements ArenaEngine {
  readonly native = true;
  readonly #arena: NativeArena;
  readonly #state: Float64Array;
  readonly #buffers = new Map<number, ArrayBuffer>();
  #chunk = NO_CHUNK;
  #chunkId = -1;
  /** JS's bump offset in #chunk (C++ has committed less or as much). */
  #offset = 0;
  /** #chunk's size, or -1 when there is no current chunk (after a reset). */
  #limit = -1;

  constructor(NativeArena: NativeArenaClass, chunkSize: number) {
    this.#arena = new NativeArena(chunkSize);
    this.#state = this.#arena.state;
  }

  block(size: number): Uint8Array | null {
    const start = this.#offset + (-this.#offset & ALIGN_MASK);
    if (start + size <= this.#limit) {
      this.#offset = start + size;
      return new Uint8Array(this.#chunk, start, size);
    }
    return this.#nextChunk(size);
  }

  #nextChunk(size: number): Uint8Array | null {
    const opened = this.#arena.block(size, this.#offset);
    if (opened === null) return null;
    const id = this.#state[ArenaSlot.chunkId]!;
    const start = this.#state[ArenaSlot.offset]!;
    if (opened !== undefined) {
      this.#buffers.set(id, opened); // the one JS object C++ makes per chunk
      this.#chunk = opened;
    } else if (id !== this.#chunkId) {
      this.#chunk = this.#buffers.get(id)!;
    }
    this.#chunkId = id;
    this.#limit = this.#chunk.byteLength;
    this.#offset = start + size;
    return new Uint8Array(this.#chunk, start, size);
  }

  reset(): void {
    this.#arena.reset(this.#offset);
    this.#offset = 0;
    this.#limit = -1; // C++ picks the next chunk
  }

  shrinkTo(bytes: number): void {
    const held = new Set(this.#arena.shrinkTo(bytes, this.#offset));
    // Dropping the ArrayBuffer lets the chunk go once no view of it is left.
    for (const id of this.#buffers.keys()) if (!held.has(id)) this.#buffers.delete(id);
  }

  stats(): ArenaStats {
    this.#arena.stats(this.#offset);
    const s = this.#state;
    return {
      capacity: s[ArenaSlot.capacity]!,
      inUse: s[ArenaSlot.inUse]!,
      highWaterMark: s[ArenaSlot.highWaterMark]!,
      chunks: s[ArenaSlot.chunks]!,
      chunksAllocated: s[ArenaSlot.chunksAllocated]!,
    };
  }
}

/** The addon's arena class when it is usable here, else null (JS chunks). */
function usableNativeArena(): NativeArenaClass | null {
  const cls = nativeExport('Arena') as NativeArenaClass | undefined;
  return typeof cls === 'function' && cls.externalBuffers === true ? cls : null;
}

const NativeArenaCtor = usableNativeArena();

function allocationFailed(size: number): Error {
  return Object.assign(
    new Error(`flatstream: the arena could not allocate a block of ${size} bytes`),
    {
      code: 'ERR_MEMORY_ALLOCATION_FAILED',
    },
  );
}

/**
 * Hands out blocks of memory from large chunks: {@link Arena.block} is a bump
 * of an offset, {@link Arena.reset} frees every block at once and keeps the
 * chunks for the next round, {@link Arena.shrink} gives chunks back down to a
 * baseline.
 *
 * A block stays valid memory for as long as you hold its view, even after
 * `reset()`, `shrink()` or the arena itself is gone; but after `reset()` its
 * bytes are handed out again, so a view kept across a reset sees them change.
 * New chunks are zero-filled; a block handed out again holds what was there.
 *
 * @example
 * ```ts
 * const arena = new Arena({ chunkSize: 64 * 1024 });
 * const a = arena.block(1000); // a view into a chunk, 8-byte aligned
 * const b = arena.block(24); // never overlaps a
 * arena.reset(); // O(1): the next blocks reuse the same memory, no new chunk
 * arena.stats().chunksAllocated; // 1
 * arena.shrink(); // after a burst: back to the baseline (one chunk)
 * ```
 */
export class Arena {
  /** Chunk size in bytes. */
  readonly chunkSize: number;
  /** Bytes that {@link Arena.shrink} keeps. */
  readonly baseline: number;
  readonly #engine: ArenaEngine;

  constructor(options?: ArenaOptions) {
    checkOptions(options, 'options');
    const chunkSize = options?.chunkSize ?? DEFAULT_CHUNK_SIZE;
    checkInteger(chunkSize, 'chunkSize', MIN_CHUNK_SIZE, ARENA_MAX_BLOCK_SIZE);
    const baseline = options?.baseline ?? chunkSize;
    checkInteger(baseline, 'baseline', 0, Number.MAX_SAFE_INTEGER);
    this.chunkSize = chunkSize;
    this.baseline = baseline;
    this.#engine = NativeArenaCtor
      ? new NativeArenaEngine(NativeArenaCtor, chunkSize)
      : new JsArenaEngine(chunkSize);
  }

  /** True when the chunks are native memory; false when they are JS ArrayBuffers. */
  get native(): boolean {
    return this.#engine.native;
  }

  /**
   * A view of a fresh block of `size` bytes (0 to 2 GiB), starting on an
   * 8-byte boundary of its chunk (`byteOffset % 8 === 0`). Throws an error
   * with code `ERR_MEMORY_ALLOCATION_FAILED` when memory runs out.
   */
  block(size: number): Uint8Array {
    checkInteger(size, 'size', 0, ARENA_MAX_BLOCK_SIZE);
    const b = this.#engine.block(size);
    if (b === null) throw allocationFailed(size);
    return b;
  }

  /** Frees every block at once, in O(1); the chunks are kept and reused. */
  reset(): void {
    this.#engine.reset();
  }

  /**
   * Gives chunks back until at most {@link Arena.baseline} bytes are held
   * (chunks with blocks in use since the last reset are kept: call it after
   * `reset()`), and restarts the high-water mark.
   */
  shrink(): void {
    this.#engine.shrinkTo(this.baseline);
  }

  /** Capacity, bytes in use, high-water mark and chunk counts. */
  stats(): ArenaStats {
    return this.#engine.stats();
  }
}
