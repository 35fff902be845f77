import {
  ChecksumDeframer,
  ChecksumFramer,
  ChecksumMismatchError,
  Crc16,
  Crc32,
  Crc32c,
  Crc64,
  DEFAULT_MAX_FRAME_LEN,
  DefaultDeframer,
  DefaultFramer,
  FlatStreamError,
  InvalidFrameError,
  MemorySink,
  NoChecksum,
  StreamReader,
  StreamWriter,
  UnexpectedEofError,
  WIRE_MAX_FRAME_LEN,
  XxHash64,
  type Checksum,
} from '../lib/index';
import { bytes, readAll, thrown, writeAll } from './helpers';

const ALL: Checksum[] = [NoChecksum, Crc16, Crc32, XxHash64, Crc32c, Crc64];
const PAYLOADS = [bytes(0), bytes(3, 2), bytes(1), bytes(1500, 3), bytes(48, 4), bytes(7, 5)];

describe.each(ALL.map((c) => [c.name, c] as const))('%s framing', (_name, checksum) => {
  const framer = new ChecksumFramer(checksum);
  const deframer = new ChecksumDeframer(checksum);

  test('frame layout: u32 LE length, checksum LE of its width, payload', () => {
    const payload = bytes(300, 9);
    const frame = framer.frame(payload);
    expect(frame.length).toBe(4 + checksum.width + 300);
    expect(frame.readUInt32LE(0)).toBe(300);
    let stored = 0n;
    for (let i = checksum.width; i-- > 0;) stored = (stored << 8n) | BigInt(frame[4 + i]!);
    expect(stored).toBe(BigInt(checksum.compute(payload)));
    expect(frame.subarray(4 + checksum.width)).toEqual(payload);
  });

  test('the writer stages byte-identical frames to Framer.frame', () => {
    expect(writeAll(framer, PAYLOADS)).toEqual(Buffer.concat(PAYLOADS.map((p) => framer.frame(p))));
  });

  test('round trip with exact payloads and offsets, across slab boundaries', () => {
    for (const slabSize of [undefined, 64, 1024]) {
      const stream = writeAll(framer, PAYLOADS, slabSize);
      const { payloads, offsets } = readAll(stream, deframer);
      expect(payloads).toEqual(PAYLOADS);
      let at = 0;
      expect(offsets).toEqual(
        PAYLOADS.map(
          (p) => ((at += 4 + checksum.width + p.length), at - 4 - checksum.width - p.length),
        ),
      );
    }
  });

  test('more frames than one scan index holds (4096) are all delivered in order', () => {
    const many = Array.from({ length: 10000 }, (_, i) => Buffer.from([i & 0xff, i >> 8]));
    const { payloads } = readAll(writeAll(framer, many), deframer);
    expect(payloads.length).toBe(10000);
    expect(payloads[9999]).toEqual(many[9999]);
  });

  if (checksum.width > 0) {
    test('a flipped payload byte is a ChecksumMismatchError with stored and calculated values', () => {
      const stream = writeAll(framer, PAYLOADS);
      const at = 4 + checksum.width + 0 + (4 + checksum.width) + 1; // 2nd byte of frame 1's payload
      stream[at] ^= 0x80;
      const e = thrown(() => readAll(stream, deframer));
      expect(e).toBeInstanceOf(ChecksumMismatchError);
      expect(e.code).toBe('ERR_FLATSTREAM_CHECKSUM_MISMATCH');
      expect(e.offset).toBe(4 + checksum.width);
      expect(e.frameIndex).toBe(1);
      const bad = Buffer.from(PAYLOADS[1]!);
      bad[1]! ^= 0x80;
      expect(e.expected).toBe(BigInt(checksum.compute(PAYLOADS[1]!)));
      expect(e.calculated).toBe(BigInt(checksum.compute(bad)));
    });
  }
});

describe('read bound', () => {
  test('default is 2 GiB, ceiling 2^32-1', () => {
    expect(new DefaultDeframer().maxFrameLen).toBe(DEFAULT_MAX_FRAME_LEN);
    expect(DEFAULT_MAX_FRAME_LEN).toBe(2 ** 31);
    expect(new DefaultDeframer({ maxFrameLen: WIRE_MAX_FRAME_LEN }).maxFrameLen).toBe(2 ** 32 - 1);
    expect(() => new DefaultDeframer({ maxFrameLen: 2 ** 32 })).toThrow(RangeError);
    expect(() => new DefaultDeframer({ maxFrameLen: -1 })).toThrow(RangeError);
  });

  test('a length above the bound is InvalidFrameError at that frame, good frames before it delivered', () => {
    const stream = writeAll(new DefaultFramer(), [bytes(10), bytes(11), bytes(12)]);
    const got: number[] = [];
    const reader = new StreamReader(stream, new DefaultDeframer().withMaxFrameLen(11));
    const e = thrown(() => reader.processAll((p) => void got.push(p.length)));
    expect(got).toEqual([10, 11]);
    expect(e).toBeInstanceOf(InvalidFrameError);
    expect(e).toBeInstanceOf(FlatStreamError);
    expect(e).toMatchObject({
      code: 'ERR_FLATSTREAM_INVALID_FRAME',
      length: 12,
      limit: 11,
      offset: 29,
      frameIndex: 2,
    });
    expect(e.message).toBe('frame length 12 exceeds the limit of 11 bytes (frame 2 at offset 29)');
  });

  test('a hostile 4 GiB length is rejected from the 4-byte header alone, before sizing anything', () => {
    const hostile = Buffer.from([0xff, 0xff, 0xff, 0xff]);
    expect(thrown(() => readAll(hostile, new DefaultDeframer()))).toMatchObject({
      code: 'ERR_FLATSTREAM_INVALID_FRAME',
      length: 2 ** 32 - 1,
      limit: 2 ** 31,
      offset: 0,
    });
    // With the bound at the wire ceiling it is merely a torn frame.
    const e = thrown(() =>
      readAll(hostile, new DefaultDeframer({ maxFrameLen: WIRE_MAX_FRAME_LEN })),
    );
    expect(e).toBeInstanceOf(UnexpectedEofError);
    expect(e).toMatchObject({ part: 'payload', needed: 4 + 2 ** 32 - 1, available: 4 });
  });

  test('bounded() on the write side rejects before any byte is staged', () => {
    const sink = new MemorySink();
    const w = new StreamWriter(sink, new ChecksumFramer(Crc32).bounded(8));
    w.writePayload(bytes(8));
    const e = thrown(() => w.writePayload(bytes(9)));
    expect(e).toBeInstanceOf(InvalidFrameError);
    expect(e).toMatchObject({ length: 9, limit: 8, offset: undefined });
    w.close();
    expect(sink.toBuffer()).toEqual(new ChecksumFramer(Crc32).frame(bytes(8)));
    expect(w.stats()).toMatchObject({ frames: 1, bytes: 16, flushes: 1 });
  });
});

describe('mis-framing is inherent to the format', () => {
  test('reading a checksummed stream with the plain deframer delivers mis-framed payloads or fails, never the originals', () => {
    const stream = writeAll(new ChecksumFramer(XxHash64), [
      Buffer.from('hello'),
      Buffer.from('world'),
    ]);
    // The 8-byte checksum is taken as payload start: frame 0 "payload" is checksum + "hello" minus 8 bytes.
    let first: Buffer | undefined;
    const e = thrown(() =>
      new StreamReader(stream, new DefaultDeframer()).processAll((p) => {
        first ??= Buffer.from(p);
      }),
    );
    expect(first).toEqual(stream.subarray(4, 9));
    // At 9 the length field is checksum bytes 5..7 and 'h': about 1.7 GB, under
    // the default bound, so the stream ends inside that frame.
    expect(e).toBeInstanceOf(UnexpectedEofError);
    expect(e).toMatchObject({ code: 'ERR_FLATSTREAM_UNEXPECTED_EOF', offset: 9, frameIndex: 1 });
  });
});
