/**
 * The engine contract: every number the TypeScript side and the native
 * addon share, named once. The addon exports the same values, taken from its
 * C++ enums and constexprs, as `binding.layout` (native/binding/addon.cc);
 * test/engine-contract.test.ts fails when the two drift. Both engines (the
 * addon and lib/engine/js/) and every caller use these names, never bare numbers
 * (docs/design.md "The engine contract").
 *
 * Owns: wire constants, checksum kind ids, scan/resync array layouts,
 * capture staging record layout and codes, arena state slots. Imports: nothing.
 */

/** Checksum kind ids (native/checksum.h ChecksumKind), plus the custom kind. */
export const ChecksumKind = {
  None: 0,
  Crc16: 1,
  Crc32: 2,
  XxHash64: 3,
  Crc32c: 4,
  Crc64: 5,
  /**
   * A checksum computed in JS (a `Checksum` object that is not a built-in):
   * the engines never compute it, the field is skipped on read and written by
   * the producer (native/capture/staging_file.h kCustomKind).
   */
  Custom: 255,
} as const;

/** Number of built-in kinds, None included (native/checksum.h kChecksumKindCount). */
export const CHECKSUM_KIND_COUNT = 6;

/** True for a kind the engines compute: Crc16 .. Crc64 (not None, not Custom). */
export function isVerifyingKind(kind: number): boolean {
  return Number.isInteger(kind) && kind > ChecksumKind.None && kind < CHECKSUM_KIND_COUNT;
}

/** Wire width in bytes of each built-in, indexed by id (native/checksum.cc checksum_width). */
export const CHECKSUM_WIDTH: readonly number[] = Object.freeze([0, 2, 4, 8, 4, 8]);

/** Length field (u32 LE) size (native/frame.h kLengthFieldSize). */
export const LENGTH_FIELD = 4;

/** Default read bound: 2 GiB, the FlatBuffers maximum (native/frame.h kDefaultMaxFrameLen). */
export const DEFAULT_MAX_FRAME_LEN = 2 ** 31;

/** The largest length a u32 length field can state (native/frame.h kWireMaxFrameLen). */
export const WIRE_MAX_FRAME_LEN = 2 ** 32 - 1;

/** The smallest payload TableRootValidator accepts (native/verifier.h kMinVerifiableSize). */
export const MIN_VERIFIABLE_SIZE = 12;

/** The largest payload a verifier accepts (native/verifier.h kMaxVerifiableSize). */
export const MAX_VERIFIABLE_SIZE = 2 ** 31 - 2;

/** The structural verifiers' limits (native/verifier.h VerifierOptions). */
export const VerifierLimits = {
  /** The deepest nesting a validator may be configured for (kMaxDepthLimit). */
  maxDepthLimit: 256,
  /** Defaults, flatc's. */
  defaultMaxDepth: 64,
  defaultMaxTables: 1_000_000,
} as const;

/** Scan statuses (native/frame.h ScanStatus). */
export const ScanStatus = {
  End: 0,
  Partial: 1,
  IndexFull: 2,
  ChecksumMismatch: 3,
  InvalidFrame: 4,
  /** The frame at `consumed` passed its checksum but a validator failed ({@link IndexSlot}.validator). */
  ValidationFailed: 5,
} as const;

/** What each header slot of a scan index holds (native/binding/layout.h IndexSlot). */
export const IndexSlot = {
  status: 0,
  frames: 1,
  /** Offset of the first frame not indexed, relative to `start`. */
  consumed: 2,
  /** The declared length of the frame the scan stopped at (when known). */
  length: 3,
  /** ValidationFailed: the failing validator's position in the chain; 0 otherwise. */
  validator: 4,
  /** Always 0. */
  reserved: 5,
} as const;

/** Header slots at the start of a scan index; (offset, length) pairs follow. */
export const INDEX_HEADER = 6;

/** Slots of resyncFrames' `out` in the plain search (native/binding/layout.h ResyncOut). */
export const ResyncOut = { keep: 0, frames: 1 } as const;

/** Length of resyncFrames' `out`: [0] keep, [1] frames of the run found. */
export const RESYNC_OUT = 2;

/** Slots of resyncFrames' `out` with a memo (native/binding/layout.h ResyncStepOut). */
export const ResyncStepOut = {
  keep: 0,
  need: 1,
  naturalPending: 2,
  checksummed: 3,
  spent: 4,
  dropped: 5,
} as const;

/** Length of resyncFrames' `out` with a memo. */
export const RESYNC_STEP_OUT = 6;

/** What one frame at an offset proves, as stored in skip mode's memo (native/frame.h Evidence). */
export const Evidence = {
  Unknown: 0,
  Bad: 1,
  None: 2,
  Weak: 3,
  Strong: 4,
} as const;

/** Skip mode's work budget (native/frame.h kResyncWorkPerByte, kResyncWorkAllowance). */
export const ResyncBudget = {
  workPerByte: 64,
  workAllowance: 2 ** 20,
} as const;

/** Arena blocks (native/arena.h Arena::kMaxBlockSize, native/binding/layout.h kBlockAlign). */
export const ArenaLimits = {
  /** Every block starts on a multiple of this many bytes. */
  blockAlign: 8,
  /** The largest block: 2 GiB, the FlatBuffers maximum. */
  maxBlockSize: 2 ** 31,
} as const;

/** Capture staging file layout (native/capture/staging_file.h SlotRecord, StagingHeader). */
export const StagingLayout = {
  /** sizeof(SlotRecord): one record per slot after the header. */
  slotRecordSize: 32,
  /** offsetof(SlotRecord, commit): where the producer stores a slot's staged bytes. */
  commitFieldOffset: 4,
  /** sizeof(StagingHeader). */
  headerSize: 128,
  /** The staging's kind before a writer binds it (native/capture/staging_file.h kUnboundKind). */
  unboundKind: -1,
  /** SlotRecord.state values (native/capture/staging_file.h SlotState). */
  slotFree: 0,
  slotFilling: 1,
  slotSealed: 2,
  /** Staging geometry bounds (native/capture/staging_file.h kMaxSlabSize, kMaxScratchSize, kMaxSlots). */
  maxSlabSize: 2 ** 30,
  maxScratchSize: 2 ** 20,
  maxSlots: 65536,
} as const;

/** What Capture.acquire() returns besides a slot (native/capture/capture.h Capture::Acquire). */
export const Acquire = {
  /** No free slot and not allowed to grow or wait. */
  None: -1,
  /** No slot freed within the wait. */
  Timeout: -2,
  /** The writer thread failed. */
  Failed: -3,
  /**
   * A slot comes back as slot + inUseUnit * (slots in use after it)
   * (native/binding/layout.h kInUseUnit).
   */
  inUseUnit: 131072,
} as const;

/** Why recovery left a stream file untouched (native/sys_error.h Refusal). */
export const Refusal = {
  None: 0,
  NoIntactFrame: 1,
  TailTooLong: 2,
  NotRegular: 3,
} as const;

/** Slots of the native Arena's shared `state` Float64Array (native/binding/layout.h ArenaSlot). */
export const ArenaSlot = {
  chunkId: 0,
  offset: 1,
  capacity: 2,
  inUse: 3,
  highWaterMark: 4,
  chunks: 5,
  chunksAllocated: 6,
} as const;

/** Length of the native Arena's `state`. */
export const ARENA_STATE_SLOTS = 7;

// ---------------------------------------------------------------------------
// The engine interfaces: what lib/ calls on an engine. The addon
// (native/binding/) and the TypeScript engine (lib/engine/js/) both implement
// them; lib/engine/load.ts picks one.

/** Why a payload failed a validator chain: the validator's position in it, and its reason. */
export interface ChainFailure {
  index: number;
  reason: string;
}

/**
 * Validators run on each payload inside a scan, after its checksum
 * (AND, in order, first failure wins). The addon accepts only its own
 * `ValidatorChain` (`nativeExport('ValidatorChain')`, native/binding/validator.cc);
 * the TypeScript engine accepts any object with this `check`, that one included.
 */
export interface ValidatorChainLike {
  /** null when buf[offset, offset + length) passes every validator. */
  check(buf: Uint8Array, offset: number, length: number): ChainFailure | null;
}

/** What lib/ needs from an engine (native/binding/addon.cc, lib/engine/js/frame.ts). */
export interface Backend {
  /** One-shot checksum; a number for widths up to 4 bytes, a bigint for 8. */
  checksum(kind: number, data: Uint8Array): number | bigint;
  /** Name of the implementation chosen for this CPU (e.g. "avx2", "js"). */
  checksumImpl(kind: number): string;
  /** Fills the checksum field of every frame staged in slab[start, end); returns the frame count. */
  sealFrames(slab: Uint8Array, start: number, end: number, kind: number): number;
  /**
   * Scans buf[start, end) for frames. Per frame: the bound, the checksum
   * field and payload present, the checksum, then `validators`; the first
   * check that fails stops the scan at that frame. Writes into `index` a
   * header of {@link INDEX_HEADER} slots (see {@link IndexSlot}), then
   * (offset - start, length) pairs. Returns the number of frames indexed.
   */
  scanFrames(
    buf: Uint8Array,
    start: number,
    end: number,
    kind: number,
    width: number,
    maxFrameLen: number,
    index: Uint32Array,
    validators?: ValidatorChainLike,
  ): number;
  /**
   * After a bad frame at `start`: the smallest offset p > start at which
   * `run` consecutive complete frames pass the bound, the checksum and
   * `validators`, or at least one does and the frames end exactly at `end`.
   * Returns p (absolute), or -1 when no offset of buf(start, end) does yet.
   * `out` (Float64Array, at least {@link RESYNC_OUT} long) receives [0]
   * keep: every offset in (start, keep) is ruled out for good, so bytes
   * before it may be dropped (the first offset whose run needs more data,
   * at most p and end), and [1] the frames of the run found (0 if none; fewer
   * than `run` when they end the buffer). Throws a RangeError for kind 0:
   * without a checksum noise looks like frames.
   *
   * With a `memo` (a Uint8Array of at least `end` bytes, zeroed when a
   * search starts and kept, shifted with the bytes, across calls): one step
   * of skip mode's search instead (docs/design.md "Skip mode"), and `run` is
   * unused. Candidates are `natural` first (the offset right after a frame
   * whose length was sane but whose checksum failed; -1: none), then every
   * offset from `start` on; the first one the evidence rule accepts is
   * returned. `eof`: the stream ends at `end`. `out` (required, at least
   * {@link RESYNC_STEP_OUT} long) receives [0] keep (candidates before it
   * are ruled out; equals the result when found), [1] need (when not found:
   * the `end` at which calling again can progress), [2] 1 if `natural` is
   * still undecided (pass it again), [3] payload bytes checksummed by this
   * call; [4] (bytes checksummed in the search) and [5] (bytes of the search
   * dropped before buf[0]) carry its work budget across calls: zero them
   * when a search starts.
   */
  resyncFrames(
    buf: Uint8Array,
    start: number,
    end: number,
    kind: number,
    width: number,
    maxFrameLen: number,
    run: number,
    validators?: ValidatorChainLike,
    out?: Float64Array,
    memo?: Uint8Array,
    natural?: number,
    eof?: boolean,
  ): number;
}

/** Counters of an {@link Arena}. */
export interface ArenaStats {
  /** Bytes held in chunks. */
  capacity: number;
  /** Bytes handed out since the last reset, alignment padding included. */
  inUse: number;
  /** The largest `inUse` since the arena was created or last shrunk. */
  highWaterMark: number;
  /** Chunks held. */
  chunks: number;
  /** Chunks ever allocated: constant in a steady state. */
  chunksAllocated: number;
}

/** What the arena needs from an engine (this file's native one, lib/engine/js/arena.ts). @internal */
export interface ArenaEngine {
  readonly native: boolean;
  /** A view of a fresh 8-byte-aligned block, or null when out of memory. */
  block(size: number): Uint8Array | null;
  reset(): void;
  shrinkTo(bytes: number): void;
  stats(): ArenaStats;
}
