import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Builder } from 'flatbuffers';
import {
  ChecksumDeframer,
  ChecksumFramer,
  ChecksumMismatchError,
  CompositeValidator,
  Crc32,
  DefaultDeframer,
  DefaultFramer,
  FlatStreamError,
  MemorySink,
  NoValidator,
  SizeValidator,
  StreamReader,
  StreamWriter,
  TableRootValidator,
  TypedValidator,
  ValidationFailedError,
  XxHash64,
  native,
} from '../lib/index';
import { RICH_INPUTS, buildRich, buildTelemetry } from './events';
import { bytes, readAll, thrown, writeAll } from './helpers';

const telemetry = (i: number): Uint8Array => {
  const b = new Builder(64);
  buildTelemetry(b, i);
  return b.asUint8Array();
};
const rich = (i: number): Uint8Array => {
  const b = new Builder(64);
  buildRich(b, i, RICH_INPUTS[i % 3]!);
  return b.asUint8Array();
};

describe('validators', () => {
  test('SizeValidator bounds the payload length, inclusive', () => {
    const v = new SizeValidator(2, 4);
    expect([1, 2, 4, 5].map((n) => v.validate(bytes(n)))).toEqual([
      'payload of 1 bytes is shorter than 2',
      null,
      null,
      'payload of 5 bytes is longer than 4',
    ]);
    expect(() => new SizeValidator(5, 4)).toThrow(RangeError);
  });

  test('TableRootValidator accepts real FlatBuffers and rejects lies about the root', () => {
    const v = new TableRootValidator();
    expect(v.validate(telemetry(1))).toBeNull();
    expect(v.validate(rich(2))).toBeNull();
    expect(v.validate(new Uint8Array(4))).toBe('buffer too small');
    const zeroRoot = Uint8Array.from(telemetry(1));
    zeroRoot.fill(0, 0, 4);
    expect(v.validate(zeroRoot)).toMatch(/root offset/);
    const farRoot = Uint8Array.from(telemetry(1));
    new DataView(farRoot.buffer).setUint32(0, 4000, true);
    expect(v.validate(farRoot)).toMatch(/out of bounds/);
    expect(v.validate(bytes(64, 9))).not.toBeNull();
  });

  // The smallest FlatBuffer: root offset 4, the root table at 4 (soffset -4),
  // its vtable at 8 (vtable size 4, table size 4, no fields).
  const minimal = (): Uint8Array =>
    Uint8Array.from([4, 0, 0, 0, 0xfc, 0xff, 0xff, 0xff, 4, 0, 4, 0]);
  // 16 bytes: root offset 12, a vtable at 4 (size 6, table size 4, one field at
  // offset 2: inside the table's own soffset), 2 bytes of padding, the table at 12.
  const fieldAt2 = (): Uint8Array =>
    Uint8Array.from([12, 0, 0, 0, 6, 0, 4, 0, 2, 0, 0, 0, 8, 0, 0, 0]);

  test('TableRootValidator gives the native verdict and reason in both engines', () => {
    const v = new TableRootValidator();
    expect(v.validate(minimal())).toBeNull();
    expect([8, 9, 10, 11].map((n) => v.validate(minimal().subarray(0, n)))).toEqual(
      Array(4).fill('buffer too small'),
    );
    expect(v.validate(fieldAt2())).toBe('field offset outside the table');
    const tableCut = minimal();
    tableCut[10] = 10; // table size 10: the body runs past the 12 bytes
    expect(v.validate(tableCut)).toBe('table body out of bounds');
    const rootPast = minimal();
    rootPast[0] = 12;
    expect(v.validate(rootPast)).toBe('root offset out of bounds');
    const rootUnaligned = minimal();
    rootUnaligned[0] = 2;
    expect(v.validate(rootUnaligned)).toBe('table misaligned');
    expect(new TableRootValidator({ checkAlignment: false }).validate(rootUnaligned)).toBe(
      'vtable out of bounds',
    );
  });

  test('a reader with TableRootValidator stops at the 16-byte payload with a field offset of 2', () => {
    const s = writeAll(new DefaultFramer(), [minimal(), fieldAt2()]);
    const d = new DefaultDeframer().withValidator(new TableRootValidator());
    const got: number[] = [];
    const e = thrown(() => new StreamReader(s, d).processAll((p) => void got.push(p.length)));
    expect(got).toEqual([12]);
    expect(e).toBeInstanceOf(ValidationFailedError);
    expect(e).toMatchObject({
      validator: 'table-root',
      reason: 'field offset outside the table',
      offset: 16,
      frameIndex: 1,
    });
  });

  test('TypedValidator.fromFunction: false or a string rejects', () => {
    const v = TypedValidator.fromFunction(
      'even',
      (p) => p.length % 2 === 0 || `odd length ${p.length}`,
    );
    expect([v.validate(bytes(2)), v.validate(bytes(3))]).toEqual([null, 'odd length 3']);
    expect(TypedValidator.fromFunction('no', () => false).validate(bytes(1))).toBe('rejected');
    expect(() => TypedValidator.fromFunction('', () => true)).toThrow(TypeError);
  });

  test('CompositeValidator is AND, in order, short-circuit', () => {
    const calls: string[] = [];
    const spy = (name: string, ok: boolean) =>
      TypedValidator.fromFunction(name, () => (calls.push(name), ok));
    const v = new CompositeValidator(spy('a', true), spy('b', false), spy('c', false));
    expect(v.validate(bytes(1))).toBe('b: rejected');
    expect(calls).toEqual(['a', 'b']);
    expect(new CompositeValidator().validate(bytes(1))).toBeNull();
    expect(NoValidator.validate(bytes(1))).toBeNull();
  });

  const bfbs = readFileSync(join(__dirname, 'generated/events.bfbs'));
  if (native) {
    test('TypedValidator.fromSchema verifies against the binary schema', () => {
      const v = TypedValidator.fromSchema(bfbs, { rootType: 'events.RichEvent' });
      expect(v.validate(rich(1))).toBeNull();
      const bad = Uint8Array.from(rich(1));
      bad[bad.length - 20] = 0xff; // the top byte of a Tag's key length: the string breaks
      expect(v.validate(bad)).toBe('Tag.key: string longer than the buffer');
      // The root table is intact: only the schema walk sees the string.
      expect(new TableRootValidator().validate(bad)).toBeNull();
      const t = TypedValidator.fromSchema(bfbs, { rootType: 'events.Telemetry' });
      expect(t.validate(telemetry(3))).toBeNull();
      expect(() => TypedValidator.fromSchema(bfbs, { rootType: 'events.Nope' })).toThrow(
        /root type/,
      );
      expect(() => TypedValidator.fromSchema(bytes(40))).toThrow(FlatStreamError);
    });
  } else {
    test('TypedValidator.fromSchema needs the native addon, and says so', () => {
      const e = thrown(() => TypedValidator.fromSchema(bfbs));
      expect(e.code).toBe('ERR_FLATSTREAM_NATIVE_REQUIRED');
    });
  }
});

describe('read side', () => {
  const stream = writeAll(new ChecksumFramer(Crc32), [telemetry(0), bytes(9, 1), telemetry(2)]);

  test('a payload that fails the validator stops reading at its frame with ValidationFailedError', () => {
    const d = new ChecksumDeframer(Crc32).withValidator(new TableRootValidator());
    const got: number[] = [];
    const e = thrown(() => new StreamReader(stream, d).processAll((p) => void got.push(p.length)));
    expect(got).toEqual([telemetry(0).length]);
    expect(e).toBeInstanceOf(ValidationFailedError);
    expect(e).toMatchObject({
      validator: 'table-root',
      offset: 8 + telemetry(0).length,
      frameIndex: 1,
    });
    expect(e.code).toBe('ERR_FLATSTREAM_VALIDATION_FAILED');
  });

  test('checksum errors win over validation errors', () => {
    const bad = Buffer.from(stream);
    bad[8 + telemetry(0).length + 8 + 2]! ^= 1; // frame 1 both fails its checksum and is not a FlatBuffer
    const d = new ChecksumDeframer(Crc32).withValidator(new TableRootValidator());
    expect(thrown(() => readAll(bad, d))).toBeInstanceOf(ChecksumMismatchError);
  });

  test('withValidator composes (AND) and keeps the bound', () => {
    const d = new DefaultDeframer({ maxFrameLen: 100 })
      .withValidator(new SizeValidator(1, 50))
      .withValidator(
        TypedValidator.fromFunction('first-byte', (p) => p[0] !== 0xff || 'starts with 0xff'),
      );
    expect(d.maxFrameLen).toBe(100);
    const s = writeAll(new DefaultFramer(), [bytes(5), Uint8Array.of(0xff, 1)]);
    expect(thrown(() => readAll(s, d))).toMatchObject({
      validator: 'first-byte',
      reason: 'starts with 0xff',
      frameIndex: 1,
    });
  });

  test('observers see each payload once it passed every check, zero-copy', () => {
    const seen: Uint8Array[] = [];
    const d = new ChecksumDeframer(Crc32).observe((p) => void seen.push(p));
    const n = new StreamReader(stream, d).processAll(() => undefined);
    expect(n).toBe(3);
    expect(seen.map((p) => p.buffer === stream.buffer)).toEqual([true, true, true]);
    const bad = Buffer.from(stream);
    bad[bad.length - 1]! ^= 1;
    const later: number[] = [];
    expect(() =>
      readAll(
        bad,
        new ChecksumDeframer(Crc32).observe((p) => void later.push(p.length)),
      ),
    ).toThrow(ChecksumMismatchError);
    expect(later.length).toBe(2);
  });
});

describe('write side', () => {
  test('a payload that fails the validator is refused before anything is staged', () => {
    const sink = new MemorySink();
    const w = new StreamWriter(
      sink,
      new ChecksumFramer(XxHash64).withValidator(new TableRootValidator()),
    );
    w.write({ serialize: (b) => buildTelemetry(b, 1) });
    const e = thrown(() => w.writePayload(bytes(16, 3)));
    expect(e).toBeInstanceOf(ValidationFailedError);
    expect(e.offset).toBeUndefined();
    w.writeFinished(
      (() => {
        const b = new Builder(16);
        buildTelemetry(b, 2);
        return b;
      })(),
    );
    w.close();
    expect(readAll(sink.toBuffer(), new ChecksumDeframer(XxHash64)).payloads.length).toBe(2);
  });

  test('write-side observers see each staged payload', () => {
    const seen: number[] = [];
    const w = new StreamWriter(
      new MemorySink(),
      new DefaultFramer().observe((p) => void seen.push(p.length)),
      { slabSize: 64 },
    );
    w.writePayload(bytes(3));
    w.write('abc');
    w.writePayload(bytes(500)); // larger than the slab: its own chunk
    w.close();
    expect(seen).toEqual([3, 12, 500]);
  });
});
