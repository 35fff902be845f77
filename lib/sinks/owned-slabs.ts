/**
 * OwnedSlabs: the slab protocol over any plain {@link Sink} (docs/design.md,
 * "Slab protocol"). It allocates the units, seals a submitted slab's
 * built-in checksums with one engine call, hands it to `sink.write()`, keeps
 * a slab the sink is still holding (it returned a promise) out of use until
 * it settles, and asks the producer to wait at MAX_IN_FLIGHT such slabs.
 *
 * Owns: OwnedSlabs, MAX_IN_FLIGHT. Imports: engine/load (sealFrames),
 * format (errors, CUSTOM_KIND), sinks/sink, sinks/slab-source.
 */
import { backend } from '../engine/load';
import { type FlatStreamError, IoError } from '../format/errors';
import { CUSTOM_KIND } from '../format/framing';
import type { Sink } from './sink';
import { type SlabFormat, type SlabSource, type SlabUnit, sinkFailure } from './slab-source';

/**
 * A sink without `needsDrain` that keeps chunks (returns promises) makes the
 * writer ask its producer to wait once it holds this many slabs: a sink whose
 * promises never settle would otherwise grow the writer's memory without a
 * signal (docs/design.md, "Re-entrancy and writer input").
 */
export const MAX_IN_FLIGHT = 8;

/** The writer's own slabs, handed to a plain {@link Sink}. */
export class OwnedSlabs implements SlabSource {
  /** The sink the slabs go to. */
  readonly sink: Sink;
  readonly slabSize: number;
  readonly flushIntervalMs = undefined;
  /** Nobody reads an owned unit's commit: one cell for all. */
  readonly commits = new Int32Array(1);
  readonly drops = 0;
  #scratchSize: number;
  #kind = 0;
  #custom = false;
  // The unit a synchronous sink just consumed: taken back first, without
  // the free list (a push and pop per slab would reallocate its backing store).
  #spare: SlabUnit | null = null;
  #free: SlabUnit[] = [];
  #allocated = 0;
  #inFlight = 0;
  // A sink without `needsDrain` never asks to wait: its getter is not read.
  #drainAware: boolean;
  #failure: FlatStreamError | null = null;
  #onFailure: ((err: Error) => void) | null = null;
  // drain() callers waiting for #inFlight to drop (sinks without needsDrain).
  #waiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  #settled: Promise<void> = Promise.resolve();

  /** Slabs of `slabSize` bytes, each followed by `scratchSize` bytes for the builder. */
  constructor(sink: Sink, slabSize: number, scratchSize: number) {
    this.sink = sink;
    this.slabSize = slabSize;
    this.#scratchSize = scratchSize;
    this.#drainAware = 'needsDrain' in sink;
  }

  bind(format: SlabFormat): void {
    this.#kind = format.kind;
    this.#custom = format.kind === CUSTOM_KIND;
  }

  /** A free unit, or a new one: never null (owned slabs never drop). */
  acquire(): SlabUnit {
    const spare = this.#spare;
    if (spare !== null) {
      this.#spare = null;
      return spare;
    }
    return this.#free.pop() ?? this.#newUnit();
  }

  submit(unit: SlabUnit, end: number, _frames: number): void {
    if (!this.#custom) backend.sealFrames(unit.slab, 0, end, this.#kind);
    if (this.#handOver(unit.slab.subarray(0, end), unit)) return; // back when released
    if (unit.all.byteLength === 0) {
      // The sink detached (transferred) the slab it was lent and returned
      // no promise: the memory, and any message built beside it, are gone.
      throw this.#fail(
        new IoError(
          'sink failed: it detached (transferred) the chunk it was lent; a sink must copy a chunk, or return a promise and keep it intact until it settles',
        ),
      );
    }
    if (this.#spare === null) this.#spare = unit;
    else this.#free.push(unit);
  }

  submitLarge(frame: Uint8Array): void {
    if (!this.#custom) backend.sealFrames(frame, 0, frame.length, this.#kind);
    this.#handOver(frame, null);
  }

  dropped(_bytes: number): void {
    // acquire() never returns null: nothing is ever dropped here.
  }

  onFailure(fn: (err: Error) => void): void {
    this.#onFailure = fn;
  }

  get needsDrain(): boolean {
    return this.#drainAware ? this.sink.needsDrain === true : this.#inFlight >= MAX_IN_FLIGHT;
  }

  drain(): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#drainAware) return this.sink.drain ? this.sink.drain() : Promise.resolve();
    if (this.#inFlight < MAX_IN_FLIGHT) return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  flush(): void {
    this.sink.flush?.();
  }

  sync(): void {
    this.sink.sync?.();
  }

  close(): void | Promise<void> {
    return this.sink.close?.();
  }

  settled(): Promise<void> {
    return this.#settled;
  }

  get slabsAllocated(): number {
    return this.#allocated;
  }

  get slabsInFlight(): number {
    return this.#inFlight;
  }

  #newUnit(): SlabUnit {
    const slabSize = this.slabSize;
    const all = new Uint8Array(slabSize + this.#scratchSize);
    this.#allocated++;
    return {
      all,
      slab: all.subarray(0, slabSize),
      view: new DataView(all.buffer, 0, slabSize),
      scratch: all.subarray(slabSize),
      cell: 0,
    };
  }

  // Gives a chunk to the sink. True if the sink keeps it for a while (it
  // returned a promise): `unit` goes back to the free list when released.
  #handOver(chunk: Uint8Array, unit: SlabUnit | null): boolean {
    let kept: Promise<void>;
    try {
      const r = this.sink.write(chunk);
      if (!r || typeof (r as Promise<void>).then !== 'function') return false;
      // A thenable that calls back twice, or both ways, must not release
      // the slab twice (it would then be staged into twice at once):
      // Promise.resolve settles once (and returns a real promise as is).
      kept = Promise.resolve(r);
    } catch (err) {
      throw this.#fail(err);
    }
    this.#inFlight++;
    const released = kept.then(
      () => {
        this.#inFlight--;
        // A slab the sink detached (transferred) is not reused.
        if (unit && unit.all.byteLength !== 0) this.#free.push(unit);
        if (this.#waiters.length && this.#inFlight < MAX_IN_FLIGHT) this.#settleWaiters();
      },
      (err: unknown) => {
        this.#inFlight--;
        this.#fail(err);
        this.#settleWaiters();
      },
    );
    const before = this.#settled;
    this.#settled = Promise.all([before, released]).then(() => undefined);
    return true;
  }

  // The first failure is the sink's failure from then on (the writer's too).
  #fail(err: unknown): FlatStreamError {
    if (this.#failure) return this.#failure;
    const failure = (this.#failure = sinkFailure(err));
    this.#onFailure?.(failure);
    return failure;
  }

  #settleWaiters(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) {
      if (this.#failure) w.reject(this.#failure);
      else w.resolve();
    }
  }
}
