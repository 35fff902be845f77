// The opt-in stream header (issue 13 item 1; docs/design.md "Stream header"):
// its FlatBuffer checked by flatc's own verifier, the writer/FileSink
// `header` option, StreamReader.open's detection on every checksum width,
// the append check, the frame-0 hint, and hostile headers. Runs in both
// engine modes.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Builder } from 'flatbuffers';
import {
  CaptureSink,
  ChecksumDeframer,
  ChecksumFramer,
  Crc16,
  Crc32,
  Crc32c,
  Crc64,
  DefaultDeframer,
  DefaultFramer,
  FileSink,
  FormatMismatchError,
  type Framer,
  HeaderError,
  MemorySink,
  NoChecksum,
  SizeValidator,
  StreamReader,
  StreamWriter,
  XxHash64,
  decodeHeader,
  detectHeader,
  encodeHeader,
  native,
} from '../lib/index';
import { bytes, prng, readAll, thrown } from './helpers';

const FBS = join(__dirname, '..', 'lib', 'format', 'header.fbs');
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fs-header-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const BFBS = Buffer.from('not really a bfbs, but bytes');
const H = { schema: BFBS, rootType: 'events.Telemetry', meta: { host: 'a1', run: '7' } };

function payloads(n: number): Buffer[] {
  return Array.from({ length: n }, (_, i) => bytes(8 + i * 3, i + 1));
}

function writeFile(path: string, framer: Framer, ps: Buffer[], header = true): void {
  const w = new StreamWriter(path, framer, header ? { header: H } : {});
  for (const p of ps) w.writePayload(p);
  w.close();
}

test('the header payload passes flatc verification and decodes to the same fields there', () => {
  const payload = encodeHeader(XxHash64, { ...H, writerVersion: '0.1.0' }, 1_700_000_000_123);
  const bin = join(dir, 'h.bin');
  writeFileSync(bin, payload);
  execFileSync('flatc', ['--json', '--strict-json', '--raw-binary', '-o', dir, FBS, '--', bin]);
  const json = JSON.parse(readFileSync(join(dir, 'h.json'), 'utf8'));
  expect(json).toEqual({
    version: 1,
    checksum: 'xxhash64',
    root_type: 'events.Telemetry',
    schema: [...BFBS],
    schema_hash: Number(XxHash64.compute(BFBS)),
    writer: 'flatstream-js',
    writer_version: '0.1.0',
    created_ms: 1_700_000_000_123,
    meta: [
      { key: 'host', value: 'a1' },
      { key: 'run', value: '7' },
    ],
  });
  // The verifier is real: a vtable offset pointing outside the buffer fails it.
  const bad = Buffer.from(payload);
  bad.writeUInt32LE(0x7fff0000, 0);
  writeFileSync(bin, bad);
  const r = spawnSync('flatc', ['--json', '--raw-binary', '-o', dir, FBS, '--', bin]);
  expect(r.status).not.toBe(0);
});

test('decodeHeader reads back what encodeHeader wrote', () => {
  const h = decodeHeader(encodeHeader(Crc32, H, 42));
  expect(h).toEqual({
    version: 1,
    checksum: 'crc32',
    rootType: 'events.Telemetry',
    schema: new Uint8Array(BFBS),
    schemaHash: XxHash64.compute(BFBS),
    writer: 'flatstream-js',
    writerVersion: undefined,
    createdMs: 42,
    meta: { host: 'a1', run: '7' },
  });
});

test('a headed stream is ordinary frames: a plain deframer reads the header as frame 0', () => {
  const path = join(dir, 's.fst');
  const ps = payloads(5);
  writeFile(path, new ChecksumFramer(XxHash64), ps);
  const file = readFileSync(path);
  const { payloads: got, offsets } = readAll(file, new ChecksumDeframer(XxHash64));
  expect(got.length).toBe(6);
  expect(decodeHeader(got[0]!).checksum).toBe('xxhash64');
  expect(got.slice(1)).toEqual(ps);
  // Frame 0 by hand, as flatstream-rs parses it: [u32 LE len][u64 LE XXH3][payload].
  const len = file.readUInt32LE(0);
  expect(file.readBigUInt64LE(4)).toBe(XxHash64.compute(file.subarray(12, 12 + len)));
  expect(offsets[1]).toBe(12 + len);
});

test.each([
  ['none', new DefaultFramer()],
  ['crc16', new ChecksumFramer(Crc16)],
  ['crc32', new ChecksumFramer(Crc32)],
  ['crc32c', new ChecksumFramer(Crc32c)],
  ['xxhash64', new ChecksumFramer(XxHash64)],
  ['crc64', new ChecksumFramer(Crc64)],
])(
  'StreamReader.open detects a %s header, skips it and numbers messages from 1',
  (name, framer) => {
    const path = join(dir, `${name}.fst`);
    const ps = payloads(4);
    writeFile(path, framer, ps);
    const headerLen = readFileSync(path).readUInt32LE(0) + 4 + framer.checksum.width;
    for (const source of [path, readFileSync(path)]) {
      const r = StreamReader.open(source);
      expect(r.deframer.checksum.name).toBe(name);
      expect(r.header?.rootType).toBe('events.Telemetry');
      expect(r.header?.meta).toEqual({ host: 'a1', run: '7' });
      const seen: [number, number][] = [];
      const got: Buffer[] = [];
      expect(
        r.processAll((p, info) => {
          got.push(Buffer.from(p));
          seen.push([info.frameIndex, info.offset]);
        }),
      ).toBe(4);
      expect(got).toEqual(ps);
      expect(seen[0]).toEqual([1, headerLen]);
      expect(seen.map((s) => s[0])).toEqual([1, 2, 3, 4]);
    }
    expect(
      [...StreamReader.open(readFileSync(path)).messages()].map((p) => Buffer.from(p)),
    ).toEqual(ps);
  },
);

test('StreamReader.open skips the header in for await and processAllAsync too', async () => {
  const path = join(dir, 'a.fst');
  const ps = payloads(3);
  writeFile(path, new ChecksumFramer(Crc32), ps);
  const got: Buffer[] = [];
  for await (const p of StreamReader.open(path)) got.push(Buffer.from(p));
  expect(got).toEqual(ps);
  expect(await StreamReader.open(path).processAllAsync(() => undefined)).toBe(3);
});

test('StreamReader.open without a header guesses the checksum from frame 0, or takes the deframer given', () => {
  const path = join(dir, 'plain.fst');
  writeFile(path, new ChecksumFramer(XxHash64), payloads(2), false);
  const r = StreamReader.open(path);
  expect(r.header).toBeNull();
  expect(r.deframer.checksum).toBe(XxHash64);
  expect(r.processAll(() => undefined)).toBe(2);
  expect(StreamReader.open(path, { deframer: new DefaultDeframer() }).deframer.checksum).toBe(
    NoChecksum,
  );
});

test('StreamReader.open refuses a directory and a FIFO with IoError, without blocking', () => {
  expect(thrown(() => StreamReader.open(dir))).toMatchObject({ code: 'ERR_FLATSTREAM_IO' });
  const fifo = join(dir, 'f');
  execFileSync('mkfifo', [fifo]);
  const e = thrown(() => StreamReader.open(fifo));
  expect(e.code).toBe('ERR_FLATSTREAM_IO');
  expect(e.message).toContain('a FIFO');
});

test('a writer to a plain Sink writes the header as its first frame', () => {
  const sink = new MemorySink();
  const w = new StreamWriter(sink, new ChecksumFramer(Crc16), { header: H });
  w.writePayload(bytes(10));
  w.close();
  const r = StreamReader.open(sink.toBuffer());
  expect(r.header?.checksum).toBe('crc16');
  expect([...r.messages()].map((p) => Buffer.from(p))).toEqual([bytes(10)]);
});

test('appending with the same framer keeps one header; another checksum is a FormatMismatchError before any byte', () => {
  const path = join(dir, 'mix.fst');
  writeFile(path, new ChecksumFramer(XxHash64), payloads(2));
  writeFile(path, new ChecksumFramer(XxHash64), payloads(3)); // header option again: checked, not rewritten
  const before = readFileSync(path);
  expect(StreamReader.open(path).processAll(() => undefined)).toBe(5);
  for (const make of [
    () => new StreamWriter(path, new ChecksumFramer(Crc32)),
    () => new StreamWriter(path, new ChecksumFramer(Crc32), { header: H }),
    () => new FileSink(path, { framer: new DefaultFramer() }),
  ]) {
    const e = thrown(make);
    expect(e).toBeInstanceOf(FormatMismatchError);
    expect(e.code).toBe('ERR_FLATSTREAM_FORMAT_MISMATCH');
    expect(e.message).toBe(
      `'${path}' has a stream header for xxhash64 frames; appending ${(e as unknown as FormatMismatchError).writerChecksum} frames would make it unreadable`,
    );
    expect(e.streamChecksum).toBe('xxhash64');
  }
  expect(readFileSync(path)).toEqual(before);
  // Truncating is a new stream: allowed.
  new StreamWriter(path, new ChecksumFramer(Crc32), { append: false, header: H }).close();
  expect(StreamReader.open(path).deframer.checksum).toBe(Crc32);
});

test('asking for a header on a non-empty headerless file is a FormatMismatchError', () => {
  const path = join(dir, 'old.fst');
  writeFile(path, new ChecksumFramer(Crc32), payloads(1), false);
  const before = readFileSync(path);
  const e = thrown(() => new StreamWriter(path, new ChecksumFramer(Crc32), { header: H }));
  expect(e).toBeInstanceOf(FormatMismatchError);
  expect(e.streamChecksum).toBe('unknown');
  expect(readFileSync(path)).toEqual(before);
});

test('the header option is refused where it cannot apply', () => {
  const path = join(dir, 'x.fst');
  const fileSink = new FileSink(path);
  expect(
    thrown(() => new StreamWriter(fileSink, new DefaultFramer(), { header: H })),
  ).toMatchObject({
    name: 'TypeError',
    code: 'ERR_INVALID_ARG_TYPE',
  });
  fileSink.close();
  expect(thrown(() => new FileSink(path, { header: H }))).toMatchObject({ name: 'TypeError' });
  expect(
    thrown(() => new StreamWriter(path, new DefaultFramer(), { header: { rootType: 5 } as never })),
  ).toMatchObject({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' });
});

test('a wrong checksum failing at frame 0 says which checksums would verify it', () => {
  const plain = Buffer.concat([
    new ChecksumFramer(XxHash64).frame(bytes(40)),
    new ChecksumFramer(XxHash64).frame(bytes(9)),
  ]);
  const e = thrown(() =>
    new StreamReader(plain, new ChecksumDeframer(Crc32)).processAll(() => undefined),
  );
  expect(e.code).toBe('ERR_FLATSTREAM_CHECKSUM_MISMATCH');
  expect(e.message).toMatch(
    /^checksum mismatch: stored 0x[0-9a-f]+, calculated 0x[0-9a-f]+ \(frame 0 at offset 0\); frame 0 verifies as xxhash64 \(8-byte checksum\): the stream was probably written with that checksum$/,
  );
  // DefaultDeframer fails at frame 1 (frame 0 is garbage that fits): same hint.
  const e2 = thrown(() =>
    new StreamReader(plain, new DefaultDeframer()).processAll(() => undefined),
  );
  expect(e2.frameIndex).toBe(1);
  expect(e2.message).toContain('; frame 0 verifies as xxhash64 (8-byte checksum)');
  // From a file, and on a headed stream: the header is named.
  const path = join(dir, 'h.fst');
  writeFile(path, new ChecksumFramer(XxHash64), payloads(2));
  const e3 = thrown(() =>
    new StreamReader(path, new ChecksumDeframer(Crc32)).processAll(() => undefined),
  );
  expect(e3.message).toContain(
    '; frame 0 is a flatstream header written with xxhash64: read it with that checksum or StreamReader.open()',
  );
  // A right checksum failing later gets no hint.
  const later = Buffer.concat([
    new ChecksumFramer(Crc32).frame(bytes(5)),
    Buffer.from([9, 0, 0, 0, 1, 2, 3, 4, 5]),
  ]);
  const e4 = thrown(() =>
    new StreamReader(later, new ChecksumDeframer(Crc32)).processAll(() => undefined),
  );
  expect(e4.message).toBe(
    "unexpected end of stream in the frame's payload: 9 of 17 bytes present (frame 1 at offset 13)",
  );
});

function headerWithVersion(v: number): Uint8Array {
  const b = new Builder(64);
  const cs = b.createString('none');
  b.startObject(9);
  b.addFieldInt16(0, v, 0);
  b.addFieldOffset(1, cs, 0);
  b.finish(b.endObject(), 'FSH1');
  return b.asUint8Array();
}

test('a header of an unknown version is a HeaderError from StreamReader.open', () => {
  const file = new DefaultFramer().frame(headerWithVersion(2));
  const e = thrown(() => StreamReader.open(file));
  expect(e).toBeInstanceOf(HeaderError);
  expect(e.code).toBe('ERR_FLATSTREAM_BAD_HEADER');
  expect(e.message).toBe(
    'stream header version 2 is not supported (this flatstream reads version 1) (frame 0 at offset 0)',
  );
  expect(decodeHeader(headerWithVersion(1)).checksum).toBe('none');
});

test('hostile header payloads: truncations and mutations are HeaderErrors or valid headers, nothing else', () => {
  const good = encodeHeader(Crc32, H, 1);
  const rnd = prng(13);
  let errors = 0;
  for (let i = 8; i < 3000; i++) {
    const p = Buffer.from(good.subarray(0, i < good.length ? i : good.length));
    if (i >= good.length) for (let k = 0; k < 1 + rnd(4); k++) p[8 + rnd(p.length - 8)] = rnd(256);
    p.write('FSH1', 4, 'latin1');
    try {
      decodeHeader(p);
    } catch (err) {
      expect(err).toBeInstanceOf(HeaderError);
      errors++;
    }
    // Framed, detection throws HeaderError or returns a header/null; never anything else.
    try {
      detectHeader(new ChecksumFramer(Crc32).frame(p));
    } catch (err) {
      expect(err).toBeInstanceOf(HeaderError);
    }
  }
  expect(errors).toBeGreaterThan(good.length - 8);
});

// Both capture modes (portable is forced in the native run by the test-only
// FLATSTREAM_TEST_PORTABLE_CAPTURE=1; it is the fallback run's only mode).
test.each(native ? ['native', 'portable'] : ['portable'])(
  'CaptureSink (%s mode): the header option starts an empty file; a headed file of another checksum is refused at bind',
  async (mode) => {
    if (mode === 'portable' && native) process.env.FLATSTREAM_TEST_PORTABLE_CAPTURE = '1';
    try {
      await captureHeader(mode);
    } finally {
      delete process.env.FLATSTREAM_TEST_PORTABLE_CAPTURE;
    }
  },
);

async function captureHeader(mode: string): Promise<void> {
  const path = join(dir, 'cap.fst');
  const open = (framer: Framer, header?: typeof H) => {
    const sink = new CaptureSink(path, {
      stagingPath: join(dir, 'cap.staging'),
      ...(header ? { header } : {}),
    });
    return { sink, writer: () => new StreamWriter(sink, framer) };
  };
  const a = open(new ChecksumFramer(XxHash64), H);
  expect(a.sink.captureMode).toBe(mode);
  const w = a.writer();
  for (const p of payloads(3)) w.writePayload(p);
  await w.close();
  await a.sink.close();
  // Reopened with the header option again: checked, not written twice.
  const b = open(new ChecksumFramer(XxHash64), H);
  const w2 = b.writer();
  w2.writePayload(bytes(7, 99));
  await w2.close();
  await b.sink.close();
  const r = StreamReader.open(path);
  expect(r.header?.checksum).toBe('xxhash64');
  expect([...r.messages()].map((p) => Buffer.from(p))).toEqual([...payloads(3), bytes(7, 99)]);
  const before = readFileSync(path);
  const c = open(new ChecksumFramer(Crc32));
  const e = thrown(() => c.writer());
  expect(e).toBeInstanceOf(FormatMismatchError);
  expect(e.message).toBe(
    `'${path}' has a stream header for xxhash64 frames; appending crc32 frames would make it unreadable`,
  );
  await c.sink.close();
  expect(readFileSync(path)).toEqual(before);
}

test('the headerless guess reads furthest, the widest on a tie: zero-filled empty frames of flatstream-rs', () => {
  expect(StreamReader.open(Buffer.alloc(4)).deframer.checksum).toBe(NoChecksum);
  expect(StreamReader.open(Buffer.alloc(6)).deframer.checksum).toBe(Crc16);
  expect(StreamReader.open(Buffer.alloc(8)).deframer.checksum).toBe(Crc32); // not crc16 + a torn frame
  expect(StreamReader.open(Buffer.alloc(12)).deframer.checksum).toBe(Crc64); // not two crc16 frames
  const xx = new ChecksumFramer(XxHash64).frame(Buffer.alloc(0));
  expect(StreamReader.open(xx).deframer.checksum).toBe(XxHash64);
});

test('a header write cut short by a full disk leaves an empty file, not a torn frame 0 (private tmpfs)', () => {
  const mnt = join(dir, 'small');
  mkdirSync(mnt);
  const child = join(__dirname, 'header-full-disk-child.js');
  const r = spawnSync(
    'unshare',
    [
      '-m',
      'sh',
      '-c',
      `mount -t tmpfs -o size=128k tmpfs "${mnt}" && exec "${process.execPath}" "${child}" "${mnt}"`,
    ],
    { encoding: 'utf8', env: { ...process.env } },
  );
  expect(r.stderr).toBe('');
  expect(JSON.parse(r.stdout)).toEqual({
    error: { name: 'IoError', code: 'ERR_FLATSTREAM_IO' },
    fdsLeaked: 0,
    size: 0,
    rootType: 'a.B',
    messages: ['after'],
  });
});

test('StreamReader.open keeps a given deframer (and its validators) on a headed stream; another checksum is a FormatMismatchError', () => {
  const path = join(dir, 'v.fst');
  writeFile(path, new ChecksumFramer(Crc32), [bytes(8), bytes(40, 2)]);
  const d = new ChecksumDeframer(Crc32).withValidator(new SizeValidator(0, 16));
  const r = StreamReader.open(path, { deframer: d });
  expect(r.deframer).toBe(d);
  const seen: number[] = [];
  const e = thrown(() => r.processAll((p) => void seen.push(p.length)));
  expect(seen).toEqual([8]);
  expect(e.code).toBe('ERR_FLATSTREAM_VALIDATION_FAILED');
  expect(e.frameIndex).toBe(2);
  const m = thrown(() => StreamReader.open(path, { deframer: new ChecksumDeframer(XxHash64) }));
  expect(m).toBeInstanceOf(FormatMismatchError);
  expect(m.message).toBe(
    "the stream's header names crc32 frames; the deframer given reads xxhash64",
  );
});
