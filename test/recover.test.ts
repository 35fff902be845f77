import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ChecksumDeframer,
  ChecksumFramer,
  ChecksumMismatchError,
  FileSink,
  InvalidFrameError,
  StreamWriter,
  ValidationFailedError,
  XxHash64,
  recover,
  recoverFile,
  SizeValidator,
} from '../lib/index';
import { bytes, readAll, thrown, writeAll } from './helpers';

const framer = new ChecksumFramer(XxHash64);
const deframer = new ChecksumDeframer(XxHash64);
const PAYLOADS = [bytes(0), bytes(5, 1), bytes(300, 2), bytes(1, 3), bytes(48, 4)];
const stream = writeAll(framer, PAYLOADS);
const starts: number[] = [];
PAYLOADS.reduce((at, p) => (starts.push(at), at + 12 + p.length), 0);
const dir = mkdtempSync(join(tmpdir(), 'flatstream-recover-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('recover: a clean stream ends clean', () => {
  expect(recover(stream, deframer)).toEqual({
    frames: 5,
    lastGoodOffset: stream.length,
    end: 'clean',
    tornBytes: 0,
  });
});

test('every truncation: torn-tail with the exact offset to truncate to; repair, append and re-read the whole file', () => {
  const file = join(dir, 'torn.fst');
  for (let cut = 0; cut <= stream.length; cut++) {
    const whole = starts.filter((s, i) => s + 12 + PAYLOADS[i]!.length <= cut).length;
    const boundary = whole === 0 ? 0 : starts[whole - 1]! + 12 + PAYLOADS[whole - 1]!.length;
    const report = recover(stream.subarray(0, cut), deframer);
    expect(report).toEqual(
      cut === boundary
        ? { frames: whole, lastGoodOffset: cut, end: 'clean', tornBytes: 0 }
        : { frames: whole, lastGoodOffset: boundary, end: 'torn-tail', tornBytes: cut - boundary },
    );
    writeFileSync(file, stream.subarray(0, cut));
    const w = new StreamWriter(file, framer, { recover: deframer });
    expect((w.sink as FileSink).recovery).toEqual(report);
    w.writePayload(bytes(7, 99));
    w.close();
    expect(statSync(file).size).toBe(boundary + 12 + 7);
    expect(readAll(readFileSync(file), deframer).payloads).toEqual([
      ...PAYLOADS.slice(0, whole),
      bytes(7, 99),
    ]);
  }
});

test('recoverFile reports only, unless asked to truncate', () => {
  const file = join(dir, 'report.fst');
  writeFileSync(file, stream.subarray(0, stream.length - 2));
  expect(recoverFile(file, deframer)).toMatchObject({
    end: 'torn-tail',
    lastGoodOffset: starts[4],
  });
  expect(statSync(file).size).toBe(stream.length - 2);
  recoverFile(file, deframer, { truncate: true });
  expect(statSync(file).size).toBe(starts[4]);
});

test('damage inside the stream is thrown with its reason and offset, never truncated', () => {
  const file = join(dir, 'damaged.fst');
  const bad = Buffer.from(stream);
  bad[starts[2]! + 12 + 100]! ^= 1;
  writeFileSync(file, bad);
  const e = thrown(() => recoverFile(file, deframer, { truncate: true }));
  expect(e).toBeInstanceOf(ChecksumMismatchError);
  expect(e).toMatchObject({ offset: starts[2], frameIndex: 2 });
  expect(statSync(file).size).toBe(bad.length);
  expect(() => new FileSink(file, { recover: deframer })).toThrow(ChecksumMismatchError);
  expect(statSync(file).size).toBe(bad.length);

  const huge = Buffer.from(stream);
  huge.writeUInt32LE(0xffffffff, starts[3]!);
  expect(thrown(() => recover(huge, deframer))).toBeInstanceOf(InvalidFrameError);
  expect(
    thrown(() => recover(stream, deframer.withValidator(new SizeValidator(1, 100)))),
  ).toBeInstanceOf(ValidationFailedError);
});

test('the recover option needs a path in append mode', () => {
  expect(() => new FileSink(join(dir, 'x.fst'), { recover: deframer, append: false })).toThrow(
    TypeError,
  );
  expect(() => new FileSink(1, { recover: deframer })).toThrow(TypeError);
});
