import { ByteBuffer } from 'flatbuffers';
import { mkdtempSync, rmSync, writeFileSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  ChecksumDeframer,
  ChecksumFramer,
  ChecksumMismatchError,
  Crc16,
  Crc32,
  Crc32c,
  Crc64,
  DefaultDeframer,
  DefaultFramer,
  IoError,
  NoChecksum,
  ReaderBusyError,
  StreamReader,
  UnexpectedEofError,
  XxHash64,
  type Checksum,
  type ReadSource,
} from '../lib/index';
import { Telemetry, buildTelemetry } from './events';
import { bytes, thrown, writeAll } from './helpers';
import { MemorySink, StreamWriter } from '../lib/index';

const dir = mkdtempSync(join(tmpdir(), 'flatstream-reader-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PAYLOADS = [
  bytes(0),
  bytes(3, 1),
  bytes(200, 2),
  bytes(1, 3),
  bytes(5000, 4),
  bytes(48, 5),
  bytes(70000, 6),
  bytes(9, 7),
];

function* chunked(buf: Uint8Array, sizes: () => number): Generator<Uint8Array> {
  for (let at = 0; at < buf.length;) {
    const n = Math.max(1, sizes());
    yield buf.slice(at, at + n); // fresh memory, as sockets give
    at += n;
  }
}

function asyncOf<T>(it: Iterable<T>): AsyncIterable<T> {
  return {
    async *[Symbol.asyncIterator]() {
      for (const x of it) yield x;
    },
  };
}

let seed = 7;
const random = (): number => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return 1 + (seed >>> 20);
};

async function readAllAsync(
  source: ReadSource,
  deframer: ChecksumDeframer,
): Promise<{ payloads: Buffer[]; offsets: number[] }> {
  const payloads: Buffer[] = [];
  const offsets: number[] = [];
  await new StreamReader(source, deframer).processAllAsync((p, info) => {
    payloads.push(Buffer.from(p));
    offsets.push(info.offset);
  });
  return { payloads, offsets };
}

describe.each([NoChecksum, Crc16, Crc32, XxHash64, Crc32c, Crc64].map((c) => [c.name, c] as const))(
  '%s',
  (_n, checksum: Checksum) => {
    const stream = writeAll(new ChecksumFramer(checksum), PAYLOADS);
    const deframer = new ChecksumDeframer(checksum);
    const offsets: number[] = [];
    PAYLOADS.reduce((at, p) => (offsets.push(at), at + deframer.headerSize + p.length), 0);
    const file = join(dir, `${checksum.name}.fst`);
    writeFileSync(file, stream);

    test.each([
      ['1', () => 1],
      ['7', () => 7],
      ['4096', () => 4096],
      ['random', random],
    ])('AsyncIterable in chunks of %s bytes', async (_label, sizes) => {
      const r = await readAllAsync(asyncOf(chunked(stream, sizes)), deframer);
      expect(r.payloads).toEqual(PAYLOADS);
      expect(r.offsets).toEqual(offsets);
    });

    test('a Readable', async () => {
      const r = await readAllAsync(Readable.from(chunked(stream, () => 1000)), deframer);
      expect(r.payloads).toEqual(PAYLOADS);
    });

    test('a file by path: sync, async, and with small reads', async () => {
      const sync: Buffer[] = [];
      new StreamReader(file, deframer, { readSize: 100 }).processAll(
        (p) => void sync.push(Buffer.from(p)),
      );
      expect(sync).toEqual(PAYLOADS);
      expect((await readAllAsync(file, deframer)).payloads).toEqual(PAYLOADS);
      const it: Buffer[] = [];
      for (const p of new StreamReader(file, deframer, { readSize: 4096 })) it.push(Buffer.from(p));
      expect(it).toEqual(PAYLOADS);
    });

    test('a file by fd (not closed by the reader)', () => {
      const fd = openSync(file, 'r');
      try {
        let n = 0;
        new StreamReader(fd, deframer, { readSize: 333 }).processAll(() => void n++);
        expect(n).toBe(PAYLOADS.length);
      } finally {
        closeSync(fd);
      }
    });
  },
);

describe('stream sources', () => {
  const deframer = new ChecksumDeframer(XxHash64);
  const stream = writeAll(new ChecksumFramer(XxHash64), PAYLOADS);

  test('a truncated stream ends with UnexpectedEofError at the torn frame, after every whole frame', async () => {
    const cut = stream.subarray(0, stream.length - 3);
    const got: number[] = [];
    const reader = new StreamReader(asyncOf(chunked(cut, () => 777)), deframer);
    const e = await reader.processAllAsync((p) => void got.push(p.length)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UnexpectedEofError);
    expect(got).toEqual(PAYLOADS.slice(0, -1).map((p) => p.length));
    expect(e).toMatchObject({
      offset: stream.length - 12 - 9,
      frameIndex: 7,
      part: 'payload',
      available: 18,
    });
  });

  test('a corrupted byte inside a frame split across chunks is a ChecksumMismatchError at that frame', async () => {
    const bad = Buffer.from(stream);
    const at = 12 + 12 + 3 + 12 + 200 + 12 + 1 + 12 + 2500; // inside the 5000-byte payload
    bad[at] ^= 1;
    const e = await readAllAsync(asyncOf(chunked(bad, () => 1000)), deframer).catch(
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(ChecksumMismatchError);
    expect(e).toMatchObject({ offset: 12 + 12 + 3 + 12 + 200 + 12 + 1, frameIndex: 4 });
  });

  test('a Readable that errors surfaces as IoError with the cause', async () => {
    const boom = new Error('connection reset');
    const src = new Readable({
      read() {
        this.push(stream.subarray(0, 100));
        this.destroy(boom);
      },
    });
    const e = await readAllAsync(src, deframer).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(IoError);
    expect((e as IoError).cause).toBe(boom);
  });

  test('a string chunk is a TypeError', async () => {
    const e = await readAllAsync(asyncOf(['abc' as unknown as Uint8Array]), deframer).catch(
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(TypeError);
  });

  test('the sync API refuses a stream source', () => {
    const r = new StreamReader(asyncOf([stream]), deframer);
    expect(r.isAsync).toBe(true);
    expect(() => r.processAll(() => undefined)).toThrow(/use processAllAsync/);
  });

  test('for await with break stops cleanly, and reading resumes after it', async () => {
    const r = new StreamReader(asyncOf(chunked(stream, () => 50)), deframer);
    const got: number[] = [];
    for await (const p of r) {
      got.push(p.length);
      if (got.length === 3) break;
    }
    expect(await r.processAllAsync((p) => void got.push(p.length))).toBe(PAYLOADS.length - 3);
    expect(got).toEqual(PAYLOADS.map((p) => p.length));
  });

  test('toStream gives copies with backpressure', async () => {
    const out: Buffer[] = [];
    for await (const p of new StreamReader(asyncOf(chunked(stream, () => 64)), deframer).toStream())
      out.push(p as Buffer);
    expect(out).toEqual(PAYLOADS);
  });

  test('a reader is never read by two calls at once', async () => {
    const r = new StreamReader(stream, deframer);
    expect(thrown(() => r.processAll(() => void r.processAll(() => undefined)))).toBeInstanceOf(
      ReaderBusyError,
    );
  });
});

describe('processTyped', () => {
  test('one reusable ByteBuffer and root object read every event in place', () => {
    const sink = new MemorySink();
    const w = new StreamWriter(sink, new ChecksumFramer(XxHash64), { slabSize: 4096 });
    for (let i = 0; i < 5000; i++) w.write({ serialize: (b) => buildTelemetry(b, i) });
    w.close();
    const seen = new Set<Telemetry>();
    let sum = 0;
    let ids = 0n;
    const n = new StreamReader(sink.toBuffer(), new ChecksumDeframer(XxHash64)).processTyped(
      Telemetry.getRootAsTelemetry,
      (t) => {
        seen.add(t);
        sum += t.value();
        ids += t.deviceId();
      },
    );
    expect(n).toBe(5000);
    expect(seen.size).toBe(1);
    expect(sum).toBe((4999 * 5000 * 0.25) / 2);
    expect(ids).toBe(BigInt(5000 * 1000 + (4999 * 5000) / 2));
  });

  test('async, over a stream in odd chunks', async () => {
    const sink = new MemorySink();
    const w = new StreamWriter(sink, new DefaultFramer());
    for (let i = 0; i < 300; i++) w.write({ serialize: (b) => buildTelemetry(b, i) });
    w.close();
    let last = -1n;
    const n = await new StreamReader(
      asyncOf(chunked(sink.toBuffer(), () => 13)),
      new DefaultDeframer(),
    ).processTypedAsync(Telemetry.getRootAsTelemetry, (t) => void (last = t.deviceId()));
    expect([n, last]).toEqual([300, 1299n]);
    void ByteBuffer;
  });
});
