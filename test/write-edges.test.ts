// Edges of the write side: slab and builder sizes at their minimum, payloads
// of 0 bytes and exactly the framer's bound, a huge string, and Writable
// streams that error or are destroyed while chunks are in flight.
import { Builder } from 'flatbuffers';
import { Writable } from 'node:stream';
import {
  ChecksumDeframer,
  ChecksumFramer,
  Crc16,
  DefaultFramer,
  InvalidFrameError,
  IoError,
  MemorySink,
  StreamWriter,
  XxHash64,
} from '../lib/index';
import { bytes, readAll, thrown } from './helpers';

const framer = new ChecksumFramer(XxHash64);

function stockString(s: string): Uint8Array {
  const b = new Builder(16);
  b.finish(b.createString(s));
  return b.asUint8Array();
}

describe('sizes at their edges', () => {
  test('slabSize = header + 1: a 0- and a 1-byte payload share slabs, larger ones go alone; bytes exact', () => {
    const f = new ChecksumFramer(Crc16); // header 6
    const sink = new MemorySink();
    const w = new StreamWriter(sink, f, { slabSize: 7 });
    const payloads = [new Uint8Array(0), bytes(1), bytes(2), new Uint8Array(0), bytes(300)];
    for (const p of payloads) expect(w.writePayload(p)).toBe(true);
    w.close();
    expect(sink.toBuffer()).toEqual(Buffer.concat(payloads.map((p) => f.frame(p))));
    expect(w.stats()).toMatchObject({ frames: 5, bytes: 6 * 5 + 303 });
  });

  test('slabSize below header + 1 is a RangeError', () => {
    const e = thrown(() => new StreamWriter(new MemorySink(), framer, { slabSize: 12 }));
    expect(e).toBeInstanceOf(RangeError);
    expect(e.code).toBe('ERR_OUT_OF_RANGE');
  });

  test('builderSize = 8: the internal builder grows and gives the stock bytes', () => {
    const sink = new MemorySink();
    const w = new StreamWriter(sink, new DefaultFramer(), { builderSize: 8 });
    const strings = ['', 'a', 'x'.repeat(100), 'é'.repeat(1000), 'short'];
    for (const s of strings) w.write(s);
    w.close();
    const f = new DefaultFramer();
    expect(sink.toBuffer()).toEqual(Buffer.concat(strings.map((s) => f.frame(stockString(s)))));
  });

  test.each([
    ['in a slab', 1024],
    ['oversized', 64],
  ])(
    'a payload of exactly the bound is framed, one byte more is refused and nothing staged (%s)',
    (_n, slabSize) => {
      const f = framer.bounded(100);
      const sink = new MemorySink();
      const w = new StreamWriter(sink, f, { slabSize });
      expect(w.writePayload(bytes(100, 1))).toBe(true);
      const e = thrown(() => w.writePayload(bytes(101, 2)));
      expect(e).toBeInstanceOf(InvalidFrameError);
      expect(e).toMatchObject({ length: 101, limit: 100 });
      expect(thrown(() => w.write('y'.repeat(200)))).toBeInstanceOf(InvalidFrameError);
      w.writePayload(new Uint8Array(0));
      w.close();
      expect(sink.toBuffer()).toEqual(
        Buffer.concat([f.frame(bytes(100, 1)), f.frame(new Uint8Array(0))]),
      );
    },
  );

  test('a huge string (4 MiB of UTF-8, surrogate pairs included) is one frame with the stock bytes', () => {
    const s = 'a€😀'.repeat(512 * 1024); // 1 + 3 + 4 bytes per repeat
    const sink = new MemorySink();
    const w = new StreamWriter(sink, framer);
    w.write(s);
    w.write('after');
    w.close();
    const { payloads } = readAll(sink.toBuffer(), new ChecksumDeframer(XxHash64));
    expect(payloads).toHaveLength(2);
    expect(payloads[0]!.equals(stockString(s))).toBe(true);
    expect(payloads[1]).toEqual(Buffer.from(stockString('after')));
  });
});

describe('a Writable that fails under the writer', () => {
  test('a stream whose write fails asynchronously: the next call throws the IoError, finished() rejects, close() does not hang', async () => {
    const stream = new Writable({
      write(_chunk, _enc, cb) {
        setImmediate(() => cb(new Error('EPIPE later')));
      },
    });
    stream.on('error', () => {});
    const w = new StreamWriter(stream, framer, { slabSize: 64 });
    w.writePayload(bytes(40));
    w.flush();
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    const e = thrown(() => w.writePayload(bytes(3)));
    expect(e).toBeInstanceOf(IoError);
    expect(e.message).toBe('WritableSink: write failed: EPIPE later');
    expect(thrown(() => w.close())).toBe(e);
    await expect(w.finished()).rejects.toBeInstanceOf(IoError);
  });

  test('a stream destroyed with a chunk in flight that never calls back: the next sink call throws IoError, finished() rejects instead of hanging', async () => {
    const stream = new Writable({
      write(_chunk, _enc, _cb) {
        // never calls back: the chunk stays in flight
      },
    });
    const w = new StreamWriter(stream, framer, { slabSize: 64 });
    w.writePayload(bytes(40, 1));
    w.flush();
    expect(w.stats().slabsInFlight).toBe(1);
    stream.destroy();
    await new Promise((r) => setImmediate(r));
    // Staging does not call the sink (no per-write cost): the next sink call reports it.
    w.writePayload(bytes(40, 2));
    const e = thrown(() => w.flush());
    expect(e).toBeInstanceOf(IoError);
    expect(e.message).toBe('WritableSink: the stream was destroyed');
    expect(thrown(() => w.close())).toBe(e);
    await expect(w.finished()).rejects.toBeInstanceOf(IoError);
    expect(w.stats().slabsInFlight).toBe(1); // never released: its memory is never reused
  });
});
