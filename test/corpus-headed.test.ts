// Headed streams as flatstream-rs reads them (docs/design.md "Stream header").
// test/corpus-headed/*.hex are streams our StreamWriter wrote with a header
// (a fixed clock); *.rs.txt is what the real crate (flatstream-rs 0.2.7, its
// StreamReader over DefaultDeframer / ChecksumDeframer<Crc32> /
// ChecksumDeframer<XxHash64>) printed reading each one: a line
// "<payload length> <payload hex>" per frame, then "ok <frames>" or
// "error after <frames>: <its error>". The crate reads the header as an
// ordinary frame 0 and every later frame as the payload we wrote; on the
// flipped file it stops at the same frame we do. test/corpus-headed/README.md
// says how the crate was run.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ChecksumDeframer,
  ChecksumFramer,
  ChecksumMismatchError,
  Crc32,
  DefaultDeframer,
  DefaultFramer,
  StreamReader,
  StreamWriter,
  XxHash64,
  type Deframer,
  type Framer,
} from '../lib/index';

const dir = join(__dirname, 'corpus-headed');
const hex = (name: string): Buffer =>
  Buffer.from(readFileSync(join(dir, name), 'utf8').replace(/\s+/g, ''), 'hex');

interface CrateDump {
  frames: Buffer[];
  end: string;
}
function crate(name: string): CrateDump {
  const lines = readFileSync(join(dir, name), 'utf8').trimEnd().split('\n');
  const end = lines.pop()!;
  return {
    frames: lines.map((l) => {
      const [len, h = ''] = l.split(' ');
      const b = Buffer.from(h, 'hex');
      expect(b.length).toBe(Number(len));
      return b;
    }),
    end,
  };
}

// The fixtures' writer inputs (the clock fixed at 1796000000000 ms).
const CREATED = 1796000000000;
const PAYLOADS = [0, 1, 7, 64, 300, 4096].map((n, i) => Buffer.alloc(n, 0x41 + i));
const HEADER = {
  rootType: 'events.Telemetry',
  writer: 'fixture',
  writerVersion: '1',
  meta: { host: 'a1' },
};

const kinds: [string, () => Framer, () => Deframer, string][] = [
  ['none', () => new DefaultFramer(), () => new DefaultDeframer(), 'none'],
  ['crc32', () => new ChecksumFramer(Crc32), () => new ChecksumDeframer(Crc32), 'crc32'],
  [
    'xxhash64',
    () => new ChecksumFramer(XxHash64),
    () => new ChecksumDeframer(XxHash64),
    'xxhash64',
  ],
];

describe.each(kinds)('headed %s stream', (kind, framer, deframer, checksum) => {
  test('our writer still writes the fixture byte for byte', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'fs-headed-'));
    const now = jest.spyOn(Date, 'now').mockReturnValue(CREATED);
    try {
      const path = join(tmp, 's.fst');
      const w = new StreamWriter(path, framer(), { header: HEADER });
      for (const p of PAYLOADS) w.write(p);
      w.close();
      expect(readFileSync(path).equals(hex(`${kind}.hex`))).toBe(true);
    } finally {
      now.mockRestore();
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  test('flatstream-rs reads the header as frame 0 and then exactly our payloads', () => {
    const rs = crate(`${kind}.rs.txt`);
    expect(rs.end).toBe(`ok ${PAYLOADS.length + 1}`);
    expect(rs.frames.slice(1).map((b) => b.toString('hex'))).toEqual(
      PAYLOADS.map((b) => b.toString('hex')),
    );
    // Frame 0 is our header payload (identifier FSH1 at bytes 4..8).
    expect(rs.frames[0]!.subarray(4, 8).toString()).toBe('FSH1');
    const plain: Buffer[] = [];
    new StreamReader(hex(`${kind}.hex`), deframer()).processAll((p) => {
      plain.push(Buffer.from(p));
    });
    expect(plain.map((b) => b.toString('hex'))).toEqual(rs.frames.map((b) => b.toString('hex')));
  });

  test('StreamReader.open finds the header and yields what the crate yields after frame 0', () => {
    const r = StreamReader.open(hex(`${kind}.hex`));
    expect(r.header).toMatchObject({ ...HEADER, version: 1, checksum, createdMs: CREATED });
    const got = [...r.messages()].map((p) => Buffer.from(p).toString('hex'));
    expect(got).toEqual(
      crate(`${kind}.rs.txt`)
        .frames.slice(1)
        .map((b) => b.toString('hex')),
    );
  });
});

test('a flipped payload bit: the crate and we stop at the same frame', () => {
  const rs = crate('xxhash64-flipped.rs.txt');
  // The crate delivered the header and payloads 0 and 1, then failed frame 3.
  expect(rs.frames).toHaveLength(3);
  expect(rs.end).toMatch(/^error after 3: Checksum mismatch/);
  const r = StreamReader.open(hex('xxhash64-flipped.hex'));
  const got: number[] = [];
  let err: unknown;
  try {
    for (const p of r.messages()) got.push(p.length);
  } catch (e) {
    err = e;
  }
  expect(got).toEqual([0, 1]);
  expect(err).toBeInstanceOf(ChecksumMismatchError);
  // Frame 3 of the file (the header is frame 0) starts at byte 213.
  expect(err).toMatchObject({ code: 'ERR_FLATSTREAM_CHECKSUM_MISMATCH', offset: 213 });
});
