// The engine contract (docs/design.md "The engine contract"): every number
// lib/engine/contract.ts names must equal what the addon exports from its C++
// enums and constexprs as `binding.layout`. A drift on either side fails here.
import {
  ARENA_STATE_SLOTS,
  Acquire,
  ArenaLimits,
  ArenaSlot,
  CHECKSUM_KIND_COUNT,
  CHECKSUM_WIDTH,
  ChecksumKind,
  DEFAULT_MAX_FRAME_LEN,
  Evidence,
  INDEX_HEADER,
  IndexSlot,
  LENGTH_FIELD,
  MAX_VERIFIABLE_SIZE,
  MIN_VERIFIABLE_SIZE,
  RESYNC_OUT,
  RESYNC_STEP_OUT,
  Refusal,
  ResyncBudget,
  ResyncOut,
  ResyncStepOut,
  ScanStatus,
  StagingLayout,
  VerifierLimits,
  WIRE_MAX_FRAME_LEN,
  isVerifyingKind,
} from '../lib/engine/contract';
import { nativeExport } from '../lib/engine/load';
import { native } from '../lib/index';

const layout = nativeExport('layout') as Record<string, Record<string, number>> | undefined;

// What the TS side names, spelled as the addon's layout object is laid out.
const expected: Record<string, unknown> = {
  checksumKind: {
    none: ChecksumKind.None,
    crc16: ChecksumKind.Crc16,
    crc32: ChecksumKind.Crc32,
    xxhash64: ChecksumKind.XxHash64,
    crc32c: ChecksumKind.Crc32c,
    crc64: ChecksumKind.Crc64,
    count: CHECKSUM_KIND_COUNT,
    custom: ChecksumKind.Custom,
    unbound: StagingLayout.unboundKind,
  },
  checksumWidth: [...CHECKSUM_WIDTH],
  frame: {
    lengthField: LENGTH_FIELD,
    defaultMaxFrameLen: DEFAULT_MAX_FRAME_LEN,
    wireMaxFrameLen: WIRE_MAX_FRAME_LEN,
    minVerifiableSize: MIN_VERIFIABLE_SIZE,
    maxVerifiableSize: MAX_VERIFIABLE_SIZE,
  },
  scanStatus: {
    end: ScanStatus.End,
    partial: ScanStatus.Partial,
    indexFull: ScanStatus.IndexFull,
    checksumMismatch: ScanStatus.ChecksumMismatch,
    invalidFrame: ScanStatus.InvalidFrame,
    validationFailed: ScanStatus.ValidationFailed,
  },
  indexSlot: { ...IndexSlot, header: INDEX_HEADER },
  resyncOut: { ...ResyncOut, length: RESYNC_OUT },
  resyncStepOut: { ...ResyncStepOut, length: RESYNC_STEP_OUT },
  staging: {
    slotRecordSize: StagingLayout.slotRecordSize,
    commitFieldOffset: StagingLayout.commitFieldOffset,
    headerSize: StagingLayout.headerSize,
    slotFree: StagingLayout.slotFree,
    slotFilling: StagingLayout.slotFilling,
    slotSealed: StagingLayout.slotSealed,
    maxSlabSize: StagingLayout.maxSlabSize,
    maxScratchSize: StagingLayout.maxScratchSize,
    maxSlots: StagingLayout.maxSlots,
  },
  acquire: {
    none: Acquire.None,
    timeout: Acquire.Timeout,
    failed: Acquire.Failed,
    inUseUnit: Acquire.inUseUnit,
  },
  refusal: {
    none: Refusal.None,
    noIntactFrame: Refusal.NoIntactFrame,
    tailTooLong: Refusal.TailTooLong,
    notRegular: Refusal.NotRegular,
  },
  arenaSlot: { ...ArenaSlot, length: ARENA_STATE_SLOTS },
  evidence: {
    unknown: Evidence.Unknown,
    bad: Evidence.Bad,
    none: Evidence.None,
    weak: Evidence.Weak,
    strong: Evidence.Strong,
  },
  resyncBudget: { ...ResyncBudget },
  arena: { ...ArenaLimits },
  verifier: { ...VerifierLimits },
};

describe('engine contract', () => {
  test('the TS names are internally consistent (both engines)', () => {
    // Every index slot and out slot below its array's length, each used once.
    const distinctBelow = (o: Record<string, number>, n: number): void => {
      const v = Object.values(o).sort((a, b) => a - b);
      expect(v).toEqual([...Array(n).keys()]);
    };
    distinctBelow(IndexSlot, INDEX_HEADER);
    distinctBelow(ResyncOut, RESYNC_OUT);
    distinctBelow(ResyncStepOut, RESYNC_STEP_OUT);
    distinctBelow(ArenaSlot, ARENA_STATE_SLOTS);
    expect(CHECKSUM_WIDTH).toHaveLength(CHECKSUM_KIND_COUNT);
    // The in-use count never spills into the slot number.
    expect(Acquire.inUseUnit).toBeGreaterThan(StagingLayout.maxSlots);
    expect([0, 1, 5, 6, ChecksumKind.Custom, -1, 1.5].map(isVerifyingKind)).toEqual([
      false,
      true,
      true,
      false,
      false,
      false,
      false,
    ]);
  });

  if (native) {
    test('every TS name equals the value the addon exports', () => {
      expect(typeof layout).toBe('object');
      expect(layout).not.toBeNull();
      // Same keys both ways: a constant added on one side only fails too.
      expect(Object.keys(layout!).sort()).toEqual(Object.keys(expected).sort());
      for (const [group, values] of Object.entries(expected)) {
        expect([group, layout![group]]).toEqual([group, values]);
      }
    });

    test('the exported layout is frozen', () => {
      expect(Object.isFrozen(layout)).toBe(true);
      expect(Object.isFrozen(layout!.scanStatus)).toBe(true);
    });
  } else {
    test.skip('every TS name equals the value the addon exports (needs the native addon: FLATSTREAM_NATIVE=0)', () => {});
  }
});
