/**
 * Memory policies: when a writer's internal builder gives back memory it grew
 * for an occasional large message.
 */
import { checkInteger, checkOptions, rangeError } from './args';

/**
 * Decides, after each message built by a writer's internal builder, whether
 * the builder should drop back to its baseline buffer.
 */
export interface MemoryPolicy {
  /** Called with the finished message size and the builder's capacity; true means shrink now. */
  shouldShrink(messageSize: number, capacity: number): boolean;
  /** The capacity to shrink back to, in bytes. */
  readonly baseline: number;
}

/** Options of {@link AdaptiveWatermarkPolicy}. */
export interface AdaptiveWatermarkOptions {
  /** Consecutive small messages before shrinking (default 32). */
  count?: number;
  /** A message is small when size × ratio ≤ capacity (default 4). */
  ratio?: number;
  /** Capacity to shrink back to, in bytes (default 1024). */
  baseline?: number;
}

/**
 * flatstream-rs's adaptive watermark: after `count` consecutive messages
 * whose size × `ratio` fits in the builder's capacity, shrink back to
 * `baseline`. A burst of large messages grows the builder once; a return to
 * small messages gives the memory back, without shrinking on every dip.
 *
 * @example
 * ```ts
 * const writer = new StreamWriter(sink, framer)
 *   .withMemoryPolicy(new AdaptiveWatermarkPolicy({ count: 64, ratio: 8, baseline: 4096 }));
 * ```
 */
export class AdaptiveWatermarkPolicy implements MemoryPolicy {
  readonly count: number;
  readonly ratio: number;
  readonly baseline: number;
  #small = 0;

  constructor(options?: AdaptiveWatermarkOptions) {
    checkOptions(options, 'options');
    this.count = options?.count ?? 32;
    this.ratio = options?.ratio ?? 4;
    this.baseline = options?.baseline ?? 1024;
    checkInteger(this.count, 'count', 1, Number.MAX_SAFE_INTEGER);
    checkInteger(this.baseline, 'baseline', 8, 2 ** 31);
    if (typeof this.ratio !== 'number' || !(this.ratio >= 1) || !Number.isFinite(this.ratio)) {
      throw rangeError(
        `The value of "ratio" is out of range. It must be a finite number >= 1. Received ${this.ratio}`,
      );
    }
  }

  shouldShrink(messageSize: number, capacity: number): boolean {
    if (capacity <= this.baseline || messageSize * this.ratio > capacity) {
      this.#small = 0;
      return false;
    }
    if (++this.#small < this.count) return false;
    this.#small = 0;
    return true;
  }
}

/** Never shrinks (the default): a grown builder keeps its memory. */
export const NoShrinkPolicy: MemoryPolicy = Object.freeze({
  baseline: 0,
  shouldShrink: () => false,
});
