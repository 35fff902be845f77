// flatstream-rs's own golden corpus (its tests/corpus/*.hex, copied byte for
// byte into test/corpus/ as fixtures): one frame per file, for the default
// framing and the crate's three checksums, over its three canonical payloads.
// Both directions, in both engine modes: our framer and writer reproduce the
// crate's bytes exactly, and our reader reads exactly its payload back.
// A missing or malformed fixture is a failure, never a skip.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Builder } from 'flatbuffers';
import {
  ArenaBuilder,
  ChecksumDeframer,
  ChecksumFramer,
  Crc16,
  Crc32,
  DefaultDeframer,
  DefaultFramer,
  type Deframer,
  type Framer,
  StreamReader,
  XxHash64,
} from '../lib/index';
import { readAll, writeAll } from './helpers';

const dir = join(__dirname, 'corpus');

function golden(file: string): Buffer {
  const digits = readFileSync(join(dir, file), 'utf8').replace(/\s+/g, '');
  if (!/^([0-9a-f]{2})*$/i.test(digits)) throw new Error(`${file} is not hex`);
  return Buffer.from(digits, 'hex');
}

// The crate's canonical payloads (its tests/wire_format_corpus.rs): empty,
// "abc", and a finished FlatBuffer whose root is a [ubyte] vector of 1024 zeros.
function medium(): Buffer {
  const b = new Builder(1024);
  b.finish(b.createByteVector(new Uint8Array(1024)));
  return Buffer.from(b.asUint8Array());
}
const payloads: Record<string, Buffer> = {
  empty: Buffer.alloc(0),
  small: Buffer.from('abc'),
  medium: medium(),
};

const strategies: Record<
  string,
  { framer: () => Framer; deframer: () => Deframer; width: number }
> = {
  default: { framer: () => new DefaultFramer(), deframer: () => new DefaultDeframer(), width: 0 },
  crc16: {
    framer: () => new ChecksumFramer(Crc16),
    deframer: () => new ChecksumDeframer(Crc16),
    width: 2,
  },
  crc32: {
    framer: () => new ChecksumFramer(Crc32),
    deframer: () => new ChecksumDeframer(Crc32),
    width: 4,
  },
  xxhash64: {
    framer: () => new ChecksumFramer(XxHash64),
    deframer: () => new ChecksumDeframer(XxHash64),
    width: 8,
  },
};

test('the corpus holds exactly the 12 files of flatstream-rs', () => {
  const expected = Object.keys(strategies)
    .flatMap((s) => Object.keys(payloads).map((p) => `${s}_${p}.hex`))
    .sort();
  expect(readdirSync(dir).sort()).toEqual(expected);
});

test('the medium payload is what the crate built: a 1032-byte [ubyte] root, also from ArenaBuilder', () => {
  const m = payloads.medium!;
  expect(m.length).toBe(1032);
  expect(m.subarray(0, 8).toString('hex')).toBe('0400000000040000');
  const a = new ArenaBuilder({ block: (n) => new Uint8Array(n) });
  a.finish(a.createByteVector(new Uint8Array(1024)));
  expect(Buffer.from(a.asUint8Array()).equals(m)).toBe(true);
});

describe.each(Object.entries(strategies))('flatstream-rs corpus: %s', (name, s) => {
  test.each(Object.keys(payloads))(
    '%s: frame(), StreamWriter and StreamReader match byte for byte',
    (label) => {
      const bytes = golden(`${name}_${label}.hex`);
      const payload = payloads[label]!;
      expect(bytes.length).toBe(4 + s.width + payload.length);
      expect(bytes.readUInt32LE(0)).toBe(payload.length);
      expect(bytes.subarray(4 + s.width).equals(payload)).toBe(true);

      expect(Buffer.from(s.framer().frame(payload)).equals(bytes)).toBe(true);
      expect(writeAll(s.framer(), [payload]).equals(bytes)).toBe(true);
      // Small slabs: the frame takes the oversized path.
      expect(writeAll(s.framer(), [payload], 4 + s.width + 1).equals(bytes)).toBe(true);

      const { payloads: got, offsets } = readAll(bytes, s.deframer());
      expect(got.map((p) => p.toString('hex'))).toEqual([payload.toString('hex')]);
      expect(offsets).toEqual([0]);
    },
  );

  test('the three frames concatenated read back as one stream', () => {
    const all = Buffer.concat(Object.keys(payloads).map((l) => golden(`${name}_${l}.hex`)));
    expect(readAll(all, s.deframer()).payloads.map((p) => p.toString('hex'))).toEqual(
      Object.values(payloads).map((p) => p.toString('hex')),
    );
    expect(writeAll(s.framer(), Object.values(payloads)).equals(all)).toBe(true);
  });

  if (s.width > 0) {
    test('read with the plain deframer it mis-frames silently, as in the crate', () => {
      const bytes = golden(`${name}_medium.hex`);
      // Only the first message: the checksum's bytes left over are a torn length.
      const first = new StreamReader(bytes, new DefaultDeframer()).messages().next();
      const got = [Buffer.from(first.value as Uint8Array)];
      expect(first.done).toBe(false);
      expect(got[0]!.length).toBe(payloads.medium!.length);
      expect(got[0]!.subarray(0, s.width).equals(bytes.subarray(4, 4 + s.width))).toBe(true);
      expect(got[0]!.equals(payloads.medium!)).toBe(false);
    });
  }
});
