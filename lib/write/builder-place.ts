/**
 * Where the writer's internal builder (simple mode) builds (docs/design.md,
 * "Memory and zero allocation"): in the scratch right after the slab the
 * writer stages into, so a finished message moves into the slab with one
 * `copyWithin`; in the arena (or plain memory) once a message outgrows it;
 * back to the larger of the scratch and the memory policy's `baseline` when
 * the policy says so.
 *
 * Owns: BuilderPlace. Imports: format (args, policy), write (Arena,
 * ArenaBuilder, callbacks' guard, payload-copy's isBytes).
 */
import { checkInteger, typeError } from '../format/args';
import { type MemoryPolicy, NoShrinkPolicy } from '../format/policy';
import { Arena } from './arena';
import { type Guard, guarded } from './callbacks';
import { isBytes } from './payload-copy';
import { ArenaBuilder, type BlockSource } from './arena-builder';

const heapBlocks: BlockSource = { block: (n) => new Uint8Array(n) };

/** The internal builder and where it lives. */
export class BuilderPlace {
  #guard: Guard;
  #source: BlockSource;
  #builder: ArenaBuilder | null = null;
  // The scratch of the unit the writer stages into.
  #scratch: Uint8Array;
  // A scratch the builder is to leave before its next message (the writer
  // moved on to another unit while a message was staged from it).
  #from: Uint8Array | null = null;
  #policy: MemoryPolicy = NoShrinkPolicy;
  #baseline = 0;
  /** Times the builder gave memory back. */
  shrinks = 0;

  constructor(guard: Guard, arena: BlockSource | undefined, scratch: Uint8Array) {
    this.#guard = guard;
    this.#scratch = scratch;
    // A BlockSource of the user's own is a callback like any other.
    this.#source =
      arena === undefined
        ? heapBlocks
        : arena instanceof Arena
          ? arena
          : { block: (n) => guarded(guard, () => arena.block(n)) };
  }

  /** Sets the memory policy; its `baseline` is read (and checked) once, here. */
  setPolicy(policy: MemoryPolicy): void {
    if (
      typeof policy !== 'object' ||
      policy === null ||
      typeof policy.shouldShrink !== 'function'
    ) {
      throw typeError('The "policy" argument must be a MemoryPolicy');
    }
    const baseline = policy.baseline;
    checkInteger(baseline, 'policy.baseline', 0, 2 ** 31);
    this.#policy = policy;
    this.#baseline = baseline;
  }

  /** The writer stages into a unit with this scratch from now on. */
  follow(scratch: Uint8Array): void {
    if (scratch === this.#scratch) return;
    // The builder may hold the message being staged in the old scratch: it
    // moves to the new one before its next message.
    if (this.#builder !== null && this.#builder.backing() === this.#scratch) {
      this.#from = this.#scratch;
    }
    this.#scratch = scratch;
  }

  /** The builder, cleared, in the current scratch unless it outgrew it. */
  ready(): ArenaBuilder {
    const b = (this.#builder ??= this.#make());
    if (this.#from !== null) {
      if (b.backing() === this.#from) b.useBlock(this.#scratch);
      this.#from = null;
    }
    b.clear();
    return b;
  }

  /**
   * Where `b` goes back to after its message of `len` bytes is staged, or
   * null to stay: asked (and the memory taken) before staging, so a policy
   * or block source that throws leaves nothing staged. The baseline is the
   * scratch beside the slab when the policy's `baseline` fits it (that
   * memory is there anyway), else a block of `baseline` bytes of its own
   * (docs/design.md, "Memory and zero allocation").
   */
  shrinkTarget(b: ArenaBuilder, len: number): Uint8Array | null {
    const policy = this.#policy;
    if (policy === NoShrinkPolicy) return null;
    this.#guard.active = true;
    try {
      if (policy.shouldShrink(len, b.capacity) !== true) return null;
    } finally {
      this.#guard.active = false;
    }
    const baseline = this.#baseline;
    if (baseline <= this.#scratch.length) return this.#scratch;
    const block: unknown = this.#source.block(baseline);
    if (!isBytes(block) || block.length < baseline) {
      throw Object.assign(
        new TypeError(
          `The block source returned ${isBytes(block) ? `a block of ${block.length} bytes` : typeof block} when asked for the memory policy's baseline of ${baseline} bytes`,
        ),
        { code: 'ERR_INVALID_RETURN_VALUE' },
      );
    }
    return block;
  }

  /** Moves `b` to `to` (from {@link shrinkTarget}), once its message is staged. */
  shrink(b: ArenaBuilder, to: Uint8Array): void {
    b.useBlock(to);
    this.shrinks++;
  }

  #make(): ArenaBuilder {
    const b = new ArenaBuilder(this.#source, { initialSize: 8 });
    b.useBlock(this.#scratch);
    return b;
  }
}
