// Every-byte truncation and every-byte flip over a multi-frame stream, for
// every checksum. Exact outcomes: which frames are delivered, which error
// class, at which offset and frame index.
import {
  ChecksumDeframer,
  ChecksumFramer,
  ChecksumMismatchError,
  Crc16,
  Crc32,
  Crc32c,
  Crc64,
  FlatStreamError,
  InvalidFrameError,
  NoChecksum,
  StreamReader,
  UnexpectedEofError,
  XxHash64,
} from '../lib/index';
import { bytes, writeAll } from './helpers';

const PAYLOADS = [bytes(0), bytes(3, 2), bytes(100, 3), bytes(1, 4), bytes(48, 5)];

function scan(
  stream: Uint8Array,
  deframer: ChecksumDeframer,
): { delivered: Buffer[]; error: FlatStreamError | null } {
  const delivered: Buffer[] = [];
  try {
    new StreamReader(stream, deframer).processAll((p) => void delivered.push(Buffer.from(p)));
    return { delivered, error: null };
  } catch (e) {
    if (!(e instanceof FlatStreamError)) throw e;
    return { delivered, error: e };
  }
}

describe.each([NoChecksum, Crc16, Crc32, XxHash64, Crc32c, Crc64].map((c) => [c.name, c] as const))(
  '%s',
  (_n, checksum) => {
    const header = 4 + checksum.width;
    const stream = writeAll(new ChecksumFramer(checksum), PAYLOADS);
    const starts: number[] = [];
    PAYLOADS.reduce((at, p) => (starts.push(at), at + header + p.length), 0);
    const frameAt = (pos: number): number => starts.filter((s) => s <= pos).length - 1;
    // A bound that a flipped high length byte always exceeds.
    const deframer = new ChecksumDeframer(checksum, { maxFrameLen: 4096 });

    test('truncation at every byte: clean end exactly at frame boundaries, otherwise UnexpectedEofError at the torn frame', () => {
      for (let cut = 0; cut <= stream.length; cut++) {
        const { delivered, error } = scan(stream.subarray(0, cut), deframer);
        const whole = starts.filter((s, i) => s + header + PAYLOADS[i]!.length <= cut).length;
        expect(delivered).toEqual(PAYLOADS.slice(0, whole));
        if (cut === stream.length || starts.includes(cut)) {
          expect(error).toBeNull();
          continue;
        }
        expect(error).toBeInstanceOf(UnexpectedEofError);
        const e = error as UnexpectedEofError;
        const have = cut - starts[whole]!;
        expect(e.offset).toBe(starts[whole]);
        expect(e.frameIndex).toBe(whole);
        expect(e.available).toBe(have);
        expect(e.part).toBe(have < 4 ? 'length' : have < header ? 'checksum' : 'payload');
        expect(e.needed).toBe(have < 4 ? header : header + PAYLOADS[whole]!.length);
      }
    });

    test('a flip of any byte stops at the frame holding it (checksums) or mis-frames safely (none)', () => {
      for (let at = 0; at < stream.length; at++) {
        const bad = Buffer.from(stream);
        bad[at] ^= 0x10;
        const { delivered, error } = scan(bad, deframer);
        const frame = frameAt(at);
        if (checksum.width === 0) {
          // Without a checksum a payload flip is delivered as is; a length flip mis-frames.
          if (at - starts[frame]! >= 4) {
            expect(error).toBeNull();
            expect(delivered.length).toBe(PAYLOADS.length);
          } else {
            expect(delivered.slice(0, frame)).toEqual(PAYLOADS.slice(0, frame));
          }
          continue;
        }
        expect(delivered).toEqual(PAYLOADS.slice(0, frame));
        expect(error).not.toBeNull();
        expect(error!.offset).toBe(starts[frame]);
        expect(error!.frameIndex).toBe(frame);
        if (at - starts[frame]! >= 4) {
          expect(error).toBeInstanceOf(ChecksumMismatchError);
        } else {
          // A corrupted length: longer than the bound, past the end, or a payload that fails its checksum.
          expect([InvalidFrameError, UnexpectedEofError, ChecksumMismatchError]).toContain(
            error!.constructor,
          );
        }
      }
    });
  },
);
