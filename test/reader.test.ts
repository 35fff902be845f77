import {
  ChecksumDeframer,
  ChecksumFramer,
  ChecksumMismatchError,
  Crc32,
  DefaultDeframer,
  DefaultFramer,
  StreamReader,
  UnexpectedEofError,
  type FrameInfo,
} from '../lib/index';
import { bytes, thrown, writeAll } from './helpers';

const PAYLOADS = [bytes(5, 1), bytes(6, 2), bytes(7, 3), bytes(8, 4)];

describe('StreamReader', () => {
  const stream = writeAll(new ChecksumFramer(Crc32), PAYLOADS);
  const deframer = new ChecksumDeframer(Crc32);

  test('payloads are zero-copy views into the source', () => {
    const views: Uint8Array[] = [];
    new StreamReader(stream, deframer).processAll((p) => void views.push(p));
    expect(views.map((v) => v.buffer === stream.buffer)).toEqual([true, true, true, true]);
    expect(views[2]!.byteOffset - stream.byteOffset).toBe(8 + 5 + 8 + 6 + 8);
  });

  test('info gives offset and frameIndex; returns the number of frames delivered', () => {
    const seen: FrameInfo[] = [];
    const n = new StreamReader(stream, deframer).processAll(
      (_p, info) => void seen.push({ ...info }),
    );
    expect(n).toBe(4);
    expect(seen).toEqual([
      { offset: 0, frameIndex: 0 },
      { offset: 13, frameIndex: 1 },
      { offset: 27, frameIndex: 2 },
      { offset: 42, frameIndex: 3 },
    ]);
  });

  test('returning false stops early; the next call continues at the next frame', () => {
    const reader = new StreamReader(stream, deframer);
    const got: number[] = [];
    expect(reader.processAll((p) => (got.push(p.length), p.length < 6))).toBe(2);
    expect(reader.position).toBe(27);
    expect(reader.frameIndex).toBe(2);
    expect(reader.processAll((p) => void got.push(p.length))).toBe(2);
    expect(got).toEqual([5, 6, 7, 8]);
    expect(reader.processAll(() => undefined)).toBe(0);
  });

  test('after an error the reader stays at the bad frame and throws the same error again', () => {
    const bad = Buffer.from(stream);
    bad[27 + 8] ^= 1; // first payload byte of frame 2
    const reader = new StreamReader(bad, deframer);
    const got: number[] = [];
    const e1 = thrown(() => reader.processAll((p) => void got.push(p.length)));
    expect(e1).toBeInstanceOf(ChecksumMismatchError);
    expect(got).toEqual([5, 6]);
    expect(reader.position).toBe(27);
    expect(reader.frameIndex).toBe(2);
    expect(thrown(() => reader.processAll(() => undefined))).toBe(e1);
  });

  test('an empty source is a clean end with no frames', () => {
    expect(new StreamReader(new Uint8Array(0), deframer).processAll(() => undefined)).toBe(0);
  });

  test('an exception from the callback propagates and reading resumes after that frame', () => {
    const reader = new StreamReader(stream, deframer);
    expect(() =>
      reader.processAll(() => {
        throw new Error('user');
      }),
    ).toThrow('user');
    expect(reader.frameIndex).toBe(1);
    expect(reader.processAll(() => undefined)).toBe(3);
  });

  test('UnexpectedEofError message and fields for a torn length field', () => {
    const torn = Buffer.concat([writeAll(new DefaultFramer(), [bytes(2)]), Buffer.from([1, 0])]);
    const e = thrown(() =>
      new StreamReader(torn, new DefaultDeframer()).processAll(() => undefined),
    );
    expect(e).toBeInstanceOf(UnexpectedEofError);
    expect(e.message).toBe(
      "unexpected end of stream in the frame's length: 2 of 4 bytes present (frame 1 at offset 6)",
    );
    expect(e).toMatchObject({
      code: 'ERR_FLATSTREAM_UNEXPECTED_EOF',
      part: 'length',
      offset: 6,
      frameIndex: 1,
    });
  });

  test('argument errors are TypeErrors', () => {
    expect(() => new StreamReader({} as unknown as Uint8Array, deframer)).toThrow(TypeError);
    expect(() => new StreamReader(-1, deframer)).toThrow(RangeError);
    expect(() => new StreamReader(stream, {} as ChecksumDeframer)).toThrow(
      /"deframer" argument must be a Deframer/,
    );
    expect(() =>
      new StreamReader(stream, deframer).processAll(null as unknown as () => void),
    ).toThrow(TypeError);
  });
});
