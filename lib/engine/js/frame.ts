/**
 * The pure TypeScript engine: the same calls as the native addon
 * (lib/engine/load.ts) with the same results, byte for byte. Used when the addon
 * cannot load, or with FLATSTREAM_NATIVE=0.
 */
import type { Backend, ValidatorChainLike } from '../contract';
import {
  CHECKSUM_KIND_COUNT,
  CHECKSUM_WIDTH as KIND_WIDTH,
  ChecksumKind as Kind,
  Evidence,
  INDEX_HEADER,
  IndexSlot,
  LENGTH_FIELD,
  RESYNC_OUT,
  RESYNC_STEP_OUT,
  ResyncBudget,
  ResyncOut,
  ResyncStepOut,
  ScanStatus,
} from '../contract';
import { crc16Xmodem, crc32, crc32c, crc64Xz } from './crc';
import { xxh3_64 } from './xxh3';

const halves = new Uint32Array(2);

/** Computes a built-in checksum over data[start, end) into `halves` (lo, hi). */
function checksumHalves(kind: number, data: Uint8Array, start: number, end: number): void {
  switch (kind) {
    case Kind.Crc16:
      halves[0] = crc16Xmodem(data, start, end);
      halves[1] = 0;
      return;
    case Kind.Crc32:
      halves[0] = crc32(data, start, end);
      halves[1] = 0;
      return;
    case Kind.Crc32c:
      halves[0] = crc32c(data, start, end);
      halves[1] = 0;
      return;
    case Kind.XxHash64:
      xxh3_64(data, start, end, halves);
      return;
    case Kind.Crc64:
      crc64Xz(data, start, end, halves);
      return;
    default:
      halves[0] = 0;
      halves[1] = 0;
  }
}

function checkKind(kind: number): void {
  if (!(Number.isInteger(kind) && kind >= Kind.None && kind < CHECKSUM_KIND_COUNT)) {
    throw new RangeError('unknown checksum kind');
  }
}

function readU32(buf: Uint8Array, pos: number): number {
  return (buf[pos]! | (buf[pos + 1]! << 8) | (buf[pos + 2]! << 16) | (buf[pos + 3]! << 24)) >>> 0;
}

function writeHalves(buf: Uint8Array, pos: number, width: number): void {
  for (let i = 0; i < width; i++) buf[pos + i] = halves[i >> 2]! >>> ((i & 3) * 8);
}

function halvesMatch(buf: Uint8Array, pos: number, width: number): boolean {
  for (let i = 0; i < width; i++) {
    if (buf[pos + i] !== ((halves[i >> 2]! >>> ((i & 3) * 8)) & 0xff)) return false;
  }
  return true;
}

// Status values and index slots: the engine contract (lib/engine/contract.ts).
const END = ScanStatus.End;
const PARTIAL = ScanStatus.Partial;
const INDEX_FULL = ScanStatus.IndexFull;
const CHECKSUM_MISMATCH = ScanStatus.ChecksumMismatch;
const INVALID_FRAME = ScanStatus.InvalidFrame;
const VALIDATION_FAILED = ScanStatus.ValidationFailed;
const HEADER = INDEX_HEADER;

// resync: what one frame says, as check_frame in native/frame.cc.
const GOOD = 0;
const BAD = 1;
const UNDECIDED = 2;
let verdictNext = 0; // GOOD: where the next frame starts

function checkFrame(
  buf: Uint8Array,
  end: number,
  at: number,
  kind: number,
  width: number,
  maxFrameLen: number,
  validators: ValidatorChainLike | undefined,
): number {
  const avail = end - at;
  if (avail < LENGTH_FIELD) return UNDECIDED;
  const len = readU32(buf, at);
  if (len > maxFrameLen) return BAD;
  const header = LENGTH_FIELD + width;
  if (avail < header || avail - header < len) return UNDECIDED;
  checksumHalves(kind, buf, at + header, at + header + len);
  if (!halvesMatch(buf, at + LENGTH_FIELD, width)) return BAD;
  if (validators && validators.check(buf, at + header, len) != null) return BAD;
  verdictNext = at + header + len;
  return GOOD;
}

// Verdicts met while walking a candidate's run, kept for later candidates;
// capped like native/frame.cc's memo (the cap changes cost, never results).
const MEMO_CAPACITY = 64;

// Skip mode's search, as resync_step in native/frame.cc (docs/design.md
// "Skip mode"). Evidence values as in native/frame.h, stored in the memo.
const E_UNKNOWN = Evidence.Unknown;
const E_BAD = Evidence.Bad;
const E_NONE = Evidence.None;
const E_WEAK = Evidence.Weak;
const E_STRONG = Evidence.Strong;
let stepNeed = 0; // set when an evidence or decision is undecided
let stepSpent = 0; // the search's budget, as ResyncBudget in native/frame.h
let stepDropped = 0;
const WORK_PER_BYTE = ResyncBudget.workPerByte;
const WORK_ALLOWANCE = ResyncBudget.workAllowance;

function evidenceAt(
  buf: Uint8Array,
  end: number,
  at: number,
  eof: boolean,
  kind: number,
  width: number,
  maxFrameLen: number,
  validators: ValidatorChainLike | undefined,
  memo: Uint8Array,
): number {
  const known = memo[at]!;
  if (known !== E_UNKNOWN) return known;
  const avail = end - at;
  if (avail < LENGTH_FIELD) {
    if (eof) return (memo[at] = E_BAD);
    stepNeed = at + LENGTH_FIELD;
    return E_UNKNOWN;
  }
  const len = readU32(buf, at);
  let e: number = E_BAD;
  const header = LENGTH_FIELD + width;
  if (len <= maxFrameLen) {
    if (avail < header || avail - header < len) {
      if (!eof) {
        stepNeed = at + header + len;
        return E_UNKNOWN;
      }
    } else {
      if (stepSpent > WORK_PER_BYTE * (stepDropped + at) + WORK_ALLOWANCE) {
        return (memo[at] = E_BAD); // over budget: counts as bad
      }
      stepSpent += len;
      checksumHalves(kind, buf, at + header, at + header + len);
      if (
        halvesMatch(buf, at + LENGTH_FIELD, width) &&
        !(validators && validators.check(buf, at + header, len) != null)
      ) {
        if (len === 0 && kind !== Kind.XxHash64) e = E_NONE;
        else e = width >= 4 ? E_STRONG : E_WEAK;
      }
    }
  }
  return (memo[at] = e);
}

const ACCEPT = 0;
const REJECT = 1;
const UNDECIDED_STEP = 2;

function decide(
  buf: Uint8Array,
  end: number,
  at: number,
  natural: boolean,
  eof: boolean,
  kind: number,
  width: number,
  maxFrameLen: number,
  validators: ValidatorChainLike | undefined,
  memo: Uint8Array,
): number {
  const e = evidenceAt(buf, end, at, eof, kind, width, maxFrameLen, validators, memo);
  if (e === E_UNKNOWN) return UNDECIDED_STEP;
  if (e === E_BAD || e === E_NONE) return REJECT;
  if (e === E_STRONG || natural) return ACCEPT;
  const next = at + LENGTH_FIELD + width + readU32(buf, at);
  if (next === end) {
    if (eof) return ACCEPT;
    stepNeed = end + 1;
    return UNDECIDED_STEP;
  }
  const e2 = evidenceAt(buf, end, next, eof, kind, width, maxFrameLen, validators, memo);
  if (e2 === E_UNKNOWN) return UNDECIDED_STEP;
  return e2 === E_WEAK || e2 === E_STRONG ? ACCEPT : REJECT;
}

function resyncStep(
  buf: Uint8Array,
  start: number,
  end: number,
  kind: number,
  width: number,
  maxFrameLen: number,
  validators: ValidatorChainLike | undefined,
  out: Float64Array | undefined,
  memo: Uint8Array,
  natural: number,
  eof: boolean,
): number {
  if (!(memo instanceof Uint8Array)) throw new TypeError('memo must be a Uint8Array');
  if (memo.length < end) throw new RangeError('memo is shorter than end');
  if (natural !== -1 && !(Number.isInteger(natural) && natural >= start && natural <= end)) {
    throw new RangeError('natural is out of range');
  }
  if (!(out instanceof Float64Array && out.length >= RESYNC_STEP_OUT)) {
    throw new TypeError('out must be a Float64Array of at least 6');
  }
  const spent0 = out[ResyncStepOut.spent]!;
  stepSpent = spent0;
  stepDropped = out[ResyncStepOut.dropped]!;
  if (!(stepSpent >= 0 && stepDropped >= 0 && stepSpent <= 2 ** 53 && stepDropped <= 2 ** 53)) {
    throw new RangeError('the budget in out is out of range');
  }
  let found = -1;
  let keep = start;
  let need = end + 1;
  let pending = 0;
  search: {
    if (natural !== -1) {
      if (natural < end) {
        stepNeed = end + 1;
        const d = decide(buf, end, natural, true, eof, kind, width, maxFrameLen, validators, memo);
        if (d === ACCEPT) {
          found = keep = natural;
          break search;
        }
        if (d === UNDECIDED_STEP) {
          need = stepNeed;
          pending = 1;
          break search;
        }
      } else if (!eof) {
        pending = 1;
        break search;
      }
    }
    for (let p = start; p < end; p++) {
      stepNeed = end + 1;
      const d = decide(buf, end, p, false, eof, kind, width, maxFrameLen, validators, memo);
      if (d === ACCEPT) {
        found = keep = p;
        break search;
      }
      if (d === UNDECIDED_STEP) {
        keep = p;
        need = stepNeed;
        break search;
      }
    }
    keep = end > start ? end : start;
  }
  out[ResyncStepOut.keep] = keep;
  out[ResyncStepOut.need] = found >= 0 ? 0 : need;
  out[ResyncStepOut.naturalPending] = found >= 0 ? 0 : pending;
  out[ResyncStepOut.checksummed] = stepSpent - spent0;
  out[ResyncStepOut.spent] = stepSpent;
  return found;
}

export const jsBackend: Backend = {
  checksum(kind, data) {
    checkKind(kind);
    checksumHalves(kind, data, 0, data.length);
    if (KIND_WIDTH[kind] === 8) return (BigInt(halves[1]!) << 32n) | BigInt(halves[0]!);
    return halves[0]!;
  },

  checksumImpl(kind) {
    checkKind(kind);
    return 'js';
  },

  sealFrames(slab, start, end, kind) {
    checkKind(kind);
    const width = KIND_WIDTH[kind]!;
    const header = LENGTH_FIELD + width;
    let pos = start;
    let frames = 0;
    while (end - pos >= header) {
      const len = readU32(slab, pos);
      if (end - pos - header < len) break;
      if (width !== 0) {
        checksumHalves(kind, slab, pos + header, pos + header + len);
        writeHalves(slab, pos + LENGTH_FIELD, width);
      }
      pos += header + len;
      frames++;
    }
    if (pos !== end) throw new Error(`staged bytes are not whole frames at offset ${pos}`);
    return frames;
  },

  scanFrames(buf, start, end, kind, width, maxFrameLen, index, validators) {
    checkKind(kind);
    if (index.length < HEADER + 2) throw new RangeError('index too small');
    const header = LENGTH_FIELD + width;
    const capacity = (index.length - HEADER) >>> 1;
    let pos = start;
    let frames = 0;
    let status: number = END;
    let length = 0; // reported only where native reports it
    let failed = 0;
    for (;;) {
      const avail = end - pos;
      if (avail <= 0) break;
      if (avail < LENGTH_FIELD) {
        status = PARTIAL;
        break;
      }
      const len = readU32(buf, pos);
      if (len > maxFrameLen) {
        status = INVALID_FRAME;
        length = len;
        break;
      }
      if (avail < header || avail - header < len) {
        status = PARTIAL;
        length = len;
        break;
      }
      if (frames === capacity) {
        status = INDEX_FULL;
        break;
      }
      if (kind !== Kind.None) {
        checksumHalves(kind, buf, pos + header, pos + header + len);
        if (!halvesMatch(buf, pos + LENGTH_FIELD, width)) {
          status = CHECKSUM_MISMATCH;
          length = len;
          break;
        }
      }
      if (validators) {
        // After the checksum, as in native/frame.cc. A throw propagates and
        // the batch is lost; the caller rescans from `start`.
        const failure = validators.check(buf, pos + header, len);
        if (failure != null) {
          status = VALIDATION_FAILED;
          length = len;
          failed = failure.index;
          break;
        }
      }
      index[HEADER + 2 * frames] = pos + header - start;
      index[HEADER + 1 + 2 * frames] = len;
      frames++;
      pos += header + len;
    }
    index[IndexSlot.status] = status;
    index[IndexSlot.frames] = frames;
    index[IndexSlot.consumed] = pos - start;
    index[IndexSlot.length] = length;
    index[IndexSlot.validator] = failed;
    index[IndexSlot.reserved] = 0;
    return frames;
  },

  // The same search as resync_frames in native/frame.cc, with the same results.
  resyncFrames(
    buf,
    start,
    end,
    kind,
    width,
    maxFrameLen,
    run,
    validators,
    out,
    memo,
    natural,
    eof,
  ) {
    checkKind(kind);
    if (kind === Kind.None) throw new RangeError('resync needs a built-in checksum');
    if (!(Number.isInteger(run) && run >= 1 && run <= 0xffffffff)) {
      throw new RangeError('run is out of range');
    }
    width = KIND_WIDTH[kind]!;
    if (memo === undefined && out !== undefined) {
      if (!(out instanceof Float64Array && out.length >= RESYNC_OUT)) {
        throw new TypeError('out must be a Float64Array of at least 2');
      }
    }
    if (memo !== undefined) {
      return resyncStep(
        buf,
        start,
        end,
        kind,
        width,
        maxFrameLen,
        validators,
        out,
        memo,
        natural ?? -1,
        eof === true,
      );
    }
    const seen = new Map<number, number>(); // offset -> -1 (bad) or the next frame's offset
    let keep = -1;
    for (let p = start + 1; p < end; p++) {
      seen.delete(p - 1);
      let at = p;
      let frames = 0;
      let verdict: number;
      for (;;) {
        const known = seen.get(at);
        if (known !== undefined) {
          verdict = known < 0 ? BAD : GOOD;
          verdictNext = known;
        } else {
          verdict = checkFrame(buf, end, at, kind, width, maxFrameLen, validators);
          if (at !== p && verdict !== UNDECIDED && seen.size < MEMO_CAPACITY) {
            seen.set(at, verdict === BAD ? -1 : verdictNext);
          }
        }
        if (verdict !== GOOD) break;
        frames++;
        at = verdictNext;
        if (frames === run || at === end) break;
      }
      if (verdict === GOOD) {
        if (out) {
          out[ResyncOut.keep] = keep >= 0 && keep < p ? keep : p;
          out[ResyncOut.frames] = frames;
        }
        return p;
      }
      if (verdict === UNDECIDED && keep < 0) keep = p;
    }
    if (out) {
      out[ResyncOut.keep] = keep >= 0 ? keep : end > start ? end : start + 1;
      out[ResyncOut.frames] = 0;
    }
    return -1;
  },
};
