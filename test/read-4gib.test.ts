// Sizes past 32 bits, in both engines: a 4 GiB Uint8Array source (the
// largest Node 20 allows) and a 5 GiB file. The engines index offsets in u32
// slots; the cursor scans in pieces so that they never wrap or refuse.
// Heavy (a lazily zeroed 4 GiB allocation, a 5 GiB sparse file read through
// a 1 GiB carry buffer), so each case runs once, sequentially.
import { closeSync, mkdtempSync, openSync, rmSync, writeSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ChecksumDeframer,
  Crc32,
  DefaultDeframer,
  InvalidFrameError,
  SizeValidator,
  StreamReader,
  UnexpectedEofError,
  ValidationFailedError,
  recover,
} from '../lib/index';
import { thrown } from './helpers';

const GiB = 2 ** 30;
const deframer = new DefaultDeframer({ maxFrameLen: 2 ** 32 - 1 });

// Frames of the given total sizes (4-byte header + zero payload) over `buf`.
function layout(buf: Buffer, sizes: number[]): number[] {
  const offsets: number[] = [];
  let at = 0;
  for (const size of sizes) {
    offsets.push(at);
    buf.writeUInt32LE(size - 4, at);
    at += size;
  }
  return offsets;
}

function read(buf: Uint8Array, d = deframer): { offsets: number[]; lengths: number[] } {
  const offsets: number[] = [];
  const lengths: number[] = [];
  new StreamReader(buf, d).processAll((p, info) => {
    offsets.push(info.offset);
    lengths.push(p.length);
  });
  return { offsets, lengths };
}

jest.setTimeout(300_000);

test('a 4 GiB Uint8Array: frames up to its last byte, a frame cut by a 4 GiB - 1 piece, one 4 GiB frame', () => {
  const buf = Buffer.alloc(4 * GiB); // zero pages stay untouched: only the headers are written
  expect(buf.length).toBe(2 ** 32);

  // four 1 GiB frames, the last one ending at byte 2^32
  let sizes = [GiB, GiB, GiB, GiB];
  let offsets = layout(buf, sizes);
  expect(read(buf)).toEqual({ offsets, lengths: sizes.map((s) => s - 4) });
  expect(recover(buf, deframer)).toEqual({
    frames: 4,
    lastGoodOffset: 2 ** 32,
    end: 'clean',
    tornBytes: 0,
  });

  // a 3 GiB frame, then one whose last byte is past the first 2^32 - 1
  sizes = [3 * GiB, GiB];
  offsets = layout(buf, sizes);
  expect(read(buf)).toEqual({ offsets, lengths: sizes.map((s) => s - 4) });

  // one frame of 2^32 bytes: payload 2^32 - 4
  buf.fill(0, 0, 16);
  buf.writeUInt32LE(2 ** 32 - 4, 0);
  expect(read(buf)).toEqual({ offsets: [0], lengths: [2 ** 32 - 4] });
  const e = thrown(() => read(buf, deframer.withValidator(new SizeValidator(0, 2 ** 32 - 5))));
  expect(e).toBeInstanceOf(ValidationFailedError);
  expect(e).toMatchObject({ offset: 0, frameIndex: 0 });
  // the same frame with a checksum: verified, and a mismatch located
  const crc = new ChecksumDeframer(Crc32, { maxFrameLen: 2 ** 32 - 1 });
  buf.writeUInt32LE(2 ** 32 - 8, 0);
  const sum = Crc32.compute(buf.subarray(8)) as number;
  buf.writeUInt32LE(sum, 4);
  expect(read(buf, crc)).toEqual({ offsets: [0], lengths: [2 ** 32 - 8] });
  buf.writeUInt32LE((sum ^ 1) >>> 0, 4);
  expect(thrown(() => read(buf, crc))).toMatchObject({
    name: 'ChecksumMismatchError',
    offset: 0,
    expected: BigInt((sum ^ 1) >>> 0),
    calculated: BigInt(sum),
  });
  buf.fill(0, 0, 16);
  buf.writeUInt32LE(2 ** 32 - 4, 0);

  // and cut by one byte: a torn frame, not a refusal to scan
  const cut = thrown(() => read(buf.subarray(0, 2 ** 32 - 1)));
  expect(cut).toBeInstanceOf(UnexpectedEofError);
  expect(cut).toMatchObject({
    part: 'payload',
    needed: 2 ** 32,
    available: 2 ** 32 - 1,
    offset: 0,
  });
});

test('a 5 GiB file: offsets past 2^32 exact, in both APIs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'flatstream-5gib-'));
  try {
    const path = join(dir, 'big.fst');
    const fd = openSync(path, 'w');
    const header = Buffer.alloc(4);
    for (let i = 0; i < 5; i++) {
      header.writeUInt32LE(GiB - 4);
      writeSync(fd, header, 0, 4, i * GiB);
    }
    header.writeUInt32LE(0xffffffff); // past the 2 GiB default bound
    writeSync(fd, header, 0, 4, 5 * GiB);
    ftruncateSync(fd, 5 * GiB + 16);
    closeSync(fd);
    const d = new DefaultDeframer();
    const seen: number[] = [];
    const r = new StreamReader(path, d);
    const err = thrown(() => r.processAll((_p, info) => void seen.push(info.offset)));
    expect(seen).toEqual([0, 1, 2, 3, 4].map((i) => i * GiB));
    expect(err).toBeInstanceOf(InvalidFrameError);
    expect(err).toMatchObject({ offset: 5 * GiB, frameIndex: 5, length: 0xffffffff });
    const a = new StreamReader(path, d);
    let n = 0;
    await expect(a.processAllAsync(() => void n++)).rejects.toMatchObject({
      offset: 5 * GiB,
      frameIndex: 5,
    });
    expect(n).toBe(5);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
