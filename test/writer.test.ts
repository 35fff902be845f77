import {
  ChecksumFramer,
  ClosedError,
  Crc16,
  DefaultFramer,
  IoError,
  MemorySink,
  StreamWriter,
  XxHash64,
  type Checksum,
  type Sink,
} from '../lib/index';
import { bytes, readAll, thrown } from './helpers';
import { ChecksumDeframer } from '../lib/index';

describe('StreamWriter (minimal, memory)', () => {
  test('frames stay in the slab until flush, then go to the sink as one sealed chunk', () => {
    const sink = new MemorySink();
    const w = new StreamWriter(sink, new ChecksumFramer(XxHash64));
    w.writePayload(bytes(10));
    w.writePayload(bytes(20));
    expect(sink.length).toBe(0);
    w.flush();
    expect(sink.chunks.length).toBe(1);
    expect(sink.length).toBe(12 + 10 + 12 + 20);
    expect(w.stats()).toMatchObject({ frames: 2, bytes: 54, flushes: 1 });
  });

  test('a full slab is sealed before the frame that does not fit', () => {
    const sink = new MemorySink();
    const w = new StreamWriter(sink, new ChecksumFramer(Crc16), { slabSize: 32 });
    w.writePayload(bytes(20)); // 26 bytes
    w.writePayload(bytes(5)); // 11 bytes: does not fit, seals the first
    expect(sink.chunks.map((c) => c.length)).toEqual([26]);
    w.close();
    expect(sink.chunks.map((c) => c.length)).toEqual([26, 11]);
  });

  test('a payload larger than the slab gets a chunk of its own, after the staged frames', () => {
    const sink = new MemorySink();
    const w = new StreamWriter(sink, new ChecksumFramer(XxHash64), { slabSize: 64 });
    w.writePayload(bytes(3));
    w.writePayload(bytes(1000, 7));
    w.close();
    expect(sink.chunks.map((c) => c.length)).toEqual([15, 1012]);
    expect(readAll(sink.toBuffer(), new ChecksumDeframer(XxHash64)).payloads).toEqual([
      bytes(3),
      bytes(1000, 7),
    ]);
  });

  test('close is idempotent; writing after close is a ClosedError', () => {
    const w = new StreamWriter(new MemorySink(), new DefaultFramer());
    w.close();
    w.close();
    expect(w.closed).toBe(true);
    const e = thrown(() => w.writePayload(bytes(1)));
    expect(e).toBeInstanceOf(ClosedError);
    expect(e).toMatchObject({ code: 'ERR_FLATSTREAM_CLOSED', message: 'StreamWriter is closed' });
    expect(() => w.flush()).toThrow(ClosedError);
  });

  test('a throwing custom checksum leaves the stream exactly as before the call', () => {
    let fail = false;
    const flaky: Checksum = {
      name: 'flaky',
      width: 1,
      compute: () => {
        if (fail) throw new Error('boom');
        return 7;
      },
    };
    const sink = new MemorySink();
    const w = new StreamWriter(sink, new ChecksumFramer(flaky));
    w.writePayload(bytes(4));
    fail = true;
    expect(() => w.writePayload(bytes(9))).toThrow('boom');
    fail = false;
    w.writePayload(bytes(2));
    w.close();
    expect(sink.toBuffer()).toEqual(
      Buffer.from([4, 0, 0, 0, 7, ...bytes(4), 2, 0, 0, 0, 7, ...bytes(2)]),
    );
    expect(w.stats().frames).toBe(2);
  });

  test('a failing sink surfaces as IoError with the cause and its errno', () => {
    const enospc = Object.assign(new Error('no space left on device'), {
      code: 'ENOSPC',
      errno: -28,
      syscall: 'write',
    });
    const sink: Sink = {
      write() {
        throw enospc;
      },
    };
    const w = new StreamWriter(sink, new DefaultFramer());
    w.writePayload(bytes(3));
    const e = thrown(() => w.flush());
    expect(e).toBeInstanceOf(IoError);
    expect(e).toMatchObject({
      code: 'ERR_FLATSTREAM_IO',
      systemCode: 'ENOSPC',
      errno: -28,
      syscall: 'write',
      cause: enospc,
    });
  });

  test('argument errors are TypeErrors/RangeErrors with Node codes', () => {
    expect(() => new StreamWriter({} as Sink, new DefaultFramer())).toThrow(TypeError);
    expect(() => new StreamWriter(new MemorySink(), {} as DefaultFramer)).toThrow(
      /"framer" argument must be a Framer/,
    );
    expect(
      thrown(() => new StreamWriter(new MemorySink(), new DefaultFramer(), { slabSize: 4 })).code,
    ).toBe('ERR_OUT_OF_RANGE');
    const w = new StreamWriter(new MemorySink(), new DefaultFramer());
    expect(thrown(() => w.writePayload('x' as unknown as Uint8Array)).code).toBe(
      'ERR_INVALID_ARG_TYPE',
    );
  });
});
