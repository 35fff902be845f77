import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ChecksumDeframer,
  ChecksumFramer,
  ChecksumMismatchError,
  DefaultDeframer,
  FileSink,
  RecoveryRefusedError,
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

// Defect 1: only a torn tail a dying writer could have left is ever cut.
describe('recovery refuses what is not a torn stream (RecoveryRefusedError, file untouched)', () => {
  const TEXT = Buffer.from(
    '2026-12-06 00:15:00 INFO text log line\n'.repeat(5385).slice(0, 210_000),
  );

  function expectRefused(
    data: Uint8Array,
    d: DefaultDeframer | ChecksumDeframer,
    reason: string,
    tornBytes: number,
    where: { offset: number; frameIndex: number },
    options?: { maxTornBytes?: number },
  ): void {
    const file = join(dir, `refused-${reason}.bin`);
    const check = (e: Error & Record<string, unknown>): void => {
      expect(e).toBeInstanceOf(RecoveryRefusedError);
      expect(e).toMatchObject({
        code: 'ERR_FLATSTREAM_RECOVERY_REFUSED',
        reason,
        tornBytes,
        ...where,
      });
    };
    check(thrown(() => recover(data, d, options)));
    writeFileSync(file, data);
    check(thrown(() => recoverFile(file, d, { ...options })));
    check(thrown(() => recoverFile(file, d, { ...options, truncate: true })));
    expect(readFileSync(file).equals(Buffer.from(data))).toBe(true);
    if (options === undefined) {
      check(thrown(() => new StreamWriter(file, framer, { recover: d })));
      check(thrown(() => new FileSink(file, { recover: d })));
      expect(readFileSync(file).equals(Buffer.from(data))).toBe(true);
    }
  }

  test('a 210,000-byte text log whose first bytes read as a length under the bound', () => {
    expect(TEXT.length).toBe(210_000);
    expect(TEXT.readUInt32LE(0)).toBeLessThan(2 ** 31);
    expectRefused(TEXT, deframer, 'no-intact-frame', 210_000, { offset: 0, frameIndex: 0 });
    expectRefused(TEXT, new DefaultDeframer(), 'no-intact-frame', 210_000, {
      offset: 0,
      frameIndex: 0,
    });
  });

  test('a binary file (a PNG header and noise)', () => {
    const png = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      bytes(5000, 7),
    ]);
    expect(png.readUInt32LE(0)).toBeLessThan(2 ** 31);
    expectRefused(png, new DefaultDeframer(), 'no-intact-frame', 5008, {
      offset: 0,
      frameIndex: 0,
    });
    expectRefused(png, deframer, 'no-intact-frame', 5008, { offset: 0, frameIndex: 0 });
  });

  test('a single torn first frame longer than one header', () => {
    const first = stream.subarray(0, starts[2]! + 20); // frames 0, 1 whole
    expect(recover(first, deframer)).toMatchObject({ frames: 2, end: 'torn-tail', tornBytes: 20 });
    const torn = writeAll(framer, [bytes(300, 2)]).subarray(0, 100);
    expectRefused(torn, deframer, 'no-intact-frame', 100, { offset: 0, frameIndex: 0 });
    // exactly one header, the payload missing: not shorter than a header
    expectRefused(torn.subarray(0, 12), deframer, 'no-intact-frame', 12, {
      offset: 0,
      frameIndex: 0,
    });
  });

  test('a tail longer than maxTornBytes', () => {
    const cut = stream.subarray(0, starts[2]! + 200); // frame 2 (312 bytes) torn after 200
    expect(recover(cut, deframer, { maxTornBytes: 200 })).toEqual({
      frames: 2,
      lastGoodOffset: starts[2],
      end: 'torn-tail',
      tornBytes: 200,
    });
    expectRefused(
      cut,
      deframer,
      'tail-too-long',
      200,
      { offset: starts[2]!, frameIndex: 2 },
      { maxTornBytes: 199 },
    );
    // the default bound is one header plus the deframer's maxFrameLen
    const small = deframer.withMaxFrameLen(300);
    expect(recover(cut, small)).toMatchObject({ end: 'torn-tail', tornBytes: 200 });
    expect(thrown(() => recover(cut, small, { maxTornBytes: 0 }))).toMatchObject({
      reason: 'tail-too-long',
    });
    expect(thrown(() => recover(stream, deframer, { maxTornBytes: -1 }))).toMatchObject({
      name: 'RangeError',
      code: 'ERR_OUT_OF_RANGE',
    });
    expect(
      thrown(() => recover(stream, deframer, { maxTornBytes: '9' as unknown as number })),
    ).toMatchObject({
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_TYPE',
    });
  });

  test('maxTornBytes through the writer and FileSink recover option', () => {
    const file = join(dir, 'max-torn.fst');
    const cut = stream.subarray(0, starts[2]! + 200);
    writeFileSync(file, cut);
    const e = thrown(
      () => new StreamWriter(file, framer, { recover: deframer, maxTornBytes: 199 }),
    );
    expect(e).toMatchObject({ code: 'ERR_FLATSTREAM_RECOVERY_REFUSED', reason: 'tail-too-long' });
    expect(readFileSync(file).equals(cut)).toBe(true);
    const w = new StreamWriter(file, framer, { recover: deframer, maxTornBytes: 200 });
    w.writePayload(PAYLOADS[2]!);
    w.close();
    expect(
      readFileSync(file).subarray(starts[2]!).equals(stream.subarray(starts[2]!, starts[3]!)),
    ).toBe(true);
    expect(thrown(() => new FileSink(file, { maxTornBytes: 10 }))).toMatchObject({
      code: 'ERR_INVALID_ARG_TYPE',
    });
  });

  test('still cut: an empty file, a 3-byte file, a valid stream with a torn tail', () => {
    const file = join(dir, 'still-cut.fst');
    for (const [data, expected] of [
      [Buffer.alloc(0), { frames: 0, lastGoodOffset: 0, end: 'clean', tornBytes: 0 }],
      [Buffer.from([5, 0, 0]), { frames: 0, lastGoodOffset: 0, end: 'torn-tail', tornBytes: 3 }],
      [
        stream.subarray(0, stream.length - 5),
        { frames: 4, lastGoodOffset: starts[4], end: 'torn-tail', tornBytes: 55 },
      ],
    ] as const) {
      expect(recover(data, deframer)).toEqual(expected);
      writeFileSync(file, data);
      expect(recoverFile(file, deframer, { truncate: true })).toEqual(expected);
      expect(statSync(file).size).toBe(expected.lastGoodOffset);
      writeFileSync(file, data);
      const w = new StreamWriter(file, framer, { recover: deframer });
      w.writePayload(bytes(3, 9));
      w.close();
      expect(statSync(file).size).toBe(expected.lastGoodOffset + 15);
    }
  });

  test('a symlink to a text log is refused and both stay; a symlink to a torn stream repairs its target', () => {
    const log = join(dir, 'app.log');
    const link = join(dir, 'app.fst');
    writeFileSync(log, TEXT);
    symlinkSync(log, link);
    expect(thrown(() => recoverFile(link, deframer, { truncate: true }))).toMatchObject({
      reason: 'no-intact-frame',
    });
    expect(readFileSync(log).equals(TEXT)).toBe(true);
    const target = join(dir, 'target.fst');
    const link2 = join(dir, 'link2.fst');
    writeFileSync(target, stream.subarray(0, stream.length - 1));
    symlinkSync(target, link2);
    expect(recoverFile(link2, deframer, { truncate: true })).toMatchObject({ frames: 4 });
    expect(statSync(target).size).toBe(starts[4]);
  });
});

// Defect 2: a FIFO with no writer must not block the event loop. Run in a
// child with a hard timeout, so that a regression fails instead of hanging jest.
describe('recoverFile refuses what is not a regular file, without blocking', () => {
  test('a FIFO with no writer, a directory, /dev/null', () => {
    const fifo = join(dir, 'no-writer.fifo');
    execFileSync('mkfifo', [fifo]);
    const script = `
      const f = require(${JSON.stringify(join(__dirname, '..', 'dist', 'cjs', 'index.js'))});
      const d = new f.ChecksumDeframer(f.XxHash64);
      const out = [];
      for (const [p, o] of [[${JSON.stringify(fifo)}, { truncate: true }], [${JSON.stringify(fifo)}, undefined], [${JSON.stringify(dir)}, { truncate: true }], ['/dev/null', { truncate: true }]]) {
        try { f.recoverFile(p, d, o); out.push('no error'); }
        catch (e) { out.push([e.name, e.code, e.reason, e.tornBytes, e.message]); }
      }
      try { new f.StreamWriter(${JSON.stringify(fifo)}, new f.ChecksumFramer(f.XxHash64), { recover: d }); out.push('no error'); }
      catch (e) { out.push([e.name, e.code, e.reason, e.tornBytes, e.message]); }
      console.log(JSON.stringify(out));
    `;
    const r = spawnSync(process.execPath, ['-e', script], { timeout: 20_000, encoding: 'utf8' });
    expect(r.signal).toBeNull(); // SIGTERM here: it blocked
    const out = JSON.parse(r.stdout) as unknown[][];
    const refused = (what: string, path: string): unknown[] => [
      'RecoveryRefusedError',
      'ERR_FLATSTREAM_RECOVERY_REFUSED',
      'not-a-regular-file',
      0,
      `refusing to recover ${path}: it is ${what}, not a regular file`,
    ];
    expect(out).toEqual([
      refused('a FIFO', fifo),
      refused('a FIFO', fifo),
      refused('a directory', dir),
      refused('a device', '/dev/null'),
      refused('a FIFO', fifo),
    ]);
  });
});

test('a read-only filesystem: a clean stream is reported, a torn one is an IoError (EROFS) and stays', () => {
  const ro = mkdtempSync(join(dir, 'ro-'));
  writeFileSync(join(ro, 'clean.fst'), stream);
  writeFileSync(join(ro, 'torn.fst'), stream.subarray(0, stream.length - 3));
  const script = `
    const f = require(${JSON.stringify(join(__dirname, '..', 'dist', 'cjs', 'index.js'))});
    const d = new f.ChecksumDeframer(f.XxHash64);
    const out = [f.recoverFile(${JSON.stringify(join(ro, 'clean.fst'))}, d, { truncate: true })];
    try { f.recoverFile(${JSON.stringify(join(ro, 'torn.fst'))}, d, { truncate: true }); out.push('no error'); }
    catch (e) { out.push([e.name, e.systemCode]); }
    out.push(f.recoverFile(${JSON.stringify(join(ro, 'torn.fst'))}, d));
    console.log(JSON.stringify(out));
  `;
  const r = spawnSync(
    'unshare',
    [
      '-m',
      'sh',
      '-c',
      'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" && exec "$1" -e "$2"',
      ro,
      process.execPath,
      script,
    ],
    { timeout: 20_000, encoding: 'utf8' },
  );
  expect(r.stderr).toBe('');
  expect(JSON.parse(r.stdout)).toEqual([
    { frames: 5, lastGoodOffset: stream.length, end: 'clean', tornBytes: 0 },
    ['IoError', 'EROFS'],
    {
      frames: 4,
      lastGoodOffset: starts[4],
      end: 'torn-tail',
      tornBytes: stream.length - 3 - starts[4]!,
    },
  ]);
  expect(statSync(join(ro, 'torn.fst')).size).toBe(stream.length - 3);
});
