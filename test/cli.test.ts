// The `flatstream` command end to end (issue 13 item 2): a spawned
// process on real files (ours, a CaptureSink's, flatstream-rs's corpus, a
// JPEG, a directory, a FIFO), exact output on small fixtures, exit codes
// 0 ok / 1 damage / 2 usage. Runs dist/ (npm run build:ts first), in the
// engine mode of the suite (FLATSTREAM_NATIVE is passed on).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CaptureSink,
  ChecksumFramer,
  Crc32,
  StreamWriter,
  XxHash64,
  compileSchema,
  listRotation,
  native,
} from '../lib/index';

const ROOT = join(__dirname, '..');
const MAIN = join(ROOT, 'dist/cjs/cli/main.js');
const EVENTS = readFileSync(join(ROOT, 'test/generated/events.bfbs'));
const COVERAGE = join(ROOT, 'test/generated/coverage.bfbs');

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fs-cli-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function run(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// Three Telemetry messages under a header with the events schema, created at a fixed time.
function telemetry(name = 'tel.fst'): string {
  const path = join(dir, name);
  const codec = compileSchema(EVENTS, { rootType: 'events.Telemetry' }).root!;
  const w = new StreamWriter(path, new ChecksumFramer(XxHash64), {
    header: { schema: EVENTS, rootType: 'events.Telemetry', meta: { host: 'a1' } },
  });
  for (let i = 0; i < 3; i++)
    w.writePayload(codec.encode({ deviceId: 7n, timestamp: BigInt(1000 + i), value: i / 2 }));
  w.close();
  return path;
}

// Five crc32 frames of 3..7 bytes ('a'.., 'b'.., …), no header: 11+12+13+14+15 = 65 bytes.
function plain(name = 'plain.fst'): string {
  const path = join(dir, name);
  const f = new ChecksumFramer(Crc32);
  writeFileSync(
    path,
    Buffer.concat([0, 1, 2, 3, 4].map((i) => f.frame(Buffer.alloc(3 + i, 97 + i)))),
  );
  return path;
}

function headerLength(path: string): number {
  return readFileSync(path).readUInt32LE(0) + 12;
}

test('info on a headerless stream: exact text, exit 0', () => {
  plain();
  const r = run('info', 'plain.fst');
  expect(r.stdout).toBe(
    [
      'file      plain.fst',
      'bytes     65',
      'header    none',
      'checksum  crc32 (detected: frame 0 verifies)',
      'frames    5',
      'payload   min 3, median 5, max 7 bytes',
      'offsets   first 0, last 50',
      'end       clean',
      '',
    ].join('\n'),
  );
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
});

test('info --json on a headed stream', () => {
  const path = telemetry();
  const h = headerLength(path);
  const r = run('info', 'tel.fst', '--json');
  expect(r.status).toBe(0);
  const j = JSON.parse(r.stdout);
  expect(j).toMatchObject({
    file: 'tel.fst',
    bytes: readFileSync(path).length,
    checksum: 'xxhash64',
    checksumFrom: 'header',
    frames: 3,
    firstOffset: h,
    end: 'clean',
    tornBytes: 0,
    error: null,
  });
  expect(j.header).toMatchObject({
    version: 1,
    checksum: 'xxhash64',
    rootType: 'events.Telemetry',
    schemaBytes: EVENTS.length,
    schemaHash: `0x${XxHash64.compute(EVENTS).toString(16).padStart(16, '0')}`,
    writer: 'flatstream-js',
    meta: { host: 'a1' },
  });
  expect(r.stdout.endsWith('}\n')).toBe(true);
  expect(r.stdout.split('\n').length).toBe(2);
});

test('info and verify on a torn tail and on damage: exit 1 with the offsets', () => {
  const path = plain();
  writeFileSync(path, Buffer.concat([readFileSync(path), Buffer.from([9, 0, 0, 0, 1, 2])]));
  const i = run('info', 'plain.fst');
  expect(i.status).toBe(1);
  expect(i.stdout).toContain('frames    5\n');
  expect(i.stdout).toContain('end       torn tail: 6 bytes at offset 65\n');
  const v = run('verify', 'plain.fst');
  expect(v.status).toBe(1);
  expect(v.stdout).toBe(
    'damaged   offset 65, 6 bytes: torn frame at the end\ndamaged   1 range, 6 bytes; 5 frames verified (crc32)\n',
  );
  // A flipped payload byte of frame 2 (offset 23): skipped, reading goes on.
  const b = readFileSync(path).subarray(0, 65);
  b[23 + 8] ^= 0xff;
  writeFileSync(path, b);
  const d = run('verify', 'plain.fst', '--json');
  expect(d.status).toBe(1);
  expect(JSON.parse(d.stdout)).toEqual({
    file: 'plain.fst',
    bytes: 65,
    checksum: 'crc32',
    frames: 4,
    ok: false,
    damaged: [{ offset: 23, length: 13, reason: 'checksum mismatch' }],
    damagedBytes: 13,
  });
});

test('verify on a clean stream: one line, exit 0, no progress bar when piped', () => {
  telemetry();
  const r = run('verify', 'tel.fst');
  expect(r.stdout).toBe(
    `ok        3 frames verified (xxhash64), ${readFileSync(join(dir, 'tel.fst')).length} bytes\n`,
  );
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
});

test('cat decodes through the schema in the header, one JSON line per message', () => {
  telemetry();
  const r = run('cat', 'tel.fst');
  if (!native) {
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('needs the native addon; use --raw');
    return;
  }
  expect(r.stdout).toBe(
    [
      '{"deviceId":"7","timestamp":"1000","value":0}',
      '{"deviceId":"7","timestamp":"1001","value":0.5}',
      '{"deviceId":"7","timestamp":"1002","value":1}',
      '',
    ].join('\n'),
  );
  expect(r.status).toBe(0);
});

test('cat with a schema that does not match the data: exit 1, never garbage', () => {
  telemetry();
  const root = compileSchema(readFileSync(COVERAGE)).rootType!;
  const r = run('cat', 'tel.fst', '--schema', COVERAGE, '--root', root);
  if (!native) {
    expect(r.status).toBe(2);
    return;
  }
  expect(r.stdout).toBe('');
  expect(r.stderr).toContain('is not the schema in the header');
  expect(r.stderr).toContain(
    `flatstream cat: validation failed (schema:covg.Root): file identifier mismatch (frame 1 at offset ${headerLength(join(dir, 'tel.fst'))})\n`,
  );
  expect(r.status).toBe(1);
  // The header's root type is not in that schema: a usage error.
  expect(run('cat', 'tel.fst', '--schema', COVERAGE).status).toBe(2);
});

test('cat --raw hex|base64 on a headerless stream; no schema and no --raw is a usage error', () => {
  plain();
  const r = run('cat', 'plain.fst', '--raw', 'hex');
  expect(r.stdout.split('\n').slice(0, 2)).toEqual([
    '{"frame":0,"offset":0,"hex":"616161"}',
    '{"frame":1,"offset":11,"hex":"62626262"}',
  ]);
  expect(r.status).toBe(0);
  expect(run('cat', 'plain.fst', '--raw', 'base64').stdout.split('\n')[0]).toBe(
    '{"frame":0,"offset":0,"base64":"YWFh"}',
  );
  const u = run('cat', 'plain.fst');
  expect(u.status).toBe(2);
  expect(u.stderr).toBe(
    'flatstream cat: plain.fst has no schema in a header: give --schema x.bfbs, or --raw hex|base64\n' +
      'usage: flatstream cat FILE [--schema x.bfbs|auto] [--root T] [--raw hex|base64] [--checksum NAME]\n',
  );
  expect(run('cat', 'plain.fst', '--raw', 'oct').status).toBe(2);
});

test('recover reports a torn tail (exit 1), --truncate repairs it (exit 0), damage is never cut', () => {
  const path = plain();
  const good = readFileSync(path);
  writeFileSync(path, Buffer.concat([good, Buffer.from([20, 0, 0, 0, 1])]));
  const r = run('recover', 'plain.fst');
  expect(r.stdout).toBe(
    'torn tail 5 bytes after offset 65 (5 intact frames); --truncate cuts it\n',
  );
  expect(r.status).toBe(1);
  expect(readFileSync(path).length).toBe(70);
  const t = run('recover', 'plain.fst', '--truncate', '--json');
  expect(JSON.parse(t.stdout)).toEqual({
    file: 'plain.fst',
    checksum: 'crc32',
    frames: 5,
    lastGoodOffset: 65,
    end: 'torn-tail',
    tornBytes: 5,
    truncated: true,
  });
  expect(t.status).toBe(0);
  expect(readFileSync(path)).toEqual(good);
  expect(run('recover', 'plain.fst').stdout).toBe('clean     5 frames, ends at offset 65\n');
  const bad = Buffer.from(good);
  bad[23 + 8] ^= 0xff;
  writeFileSync(path, bad);
  const d = run('recover', 'plain.fst', '--truncate');
  expect(d.status).toBe(1);
  expect(d.stdout).toMatch(
    /^damaged {3}checksum mismatch: .* \(frame 2 at offset 23\); the file was not changed\n$/,
  );
  expect(readFileSync(path)).toEqual(bad);
});

test('not a stream: a JPEG is damage (exit 1); a directory, a FIFO, a missing file are usage (exit 2), without hanging', () => {
  // The start of a JFIF file: SOI, APP0 "JFIF".
  const jpeg = Buffer.concat([
    Buffer.from('ffd8ffe000104a46494600010101004800480000', 'hex'),
    Buffer.alloc(300, 0x55),
  ]);
  writeFileSync(join(dir, 'p.jpg'), jpeg);
  const i = run('info', 'p.jpg');
  expect(i.status).toBe(1);
  expect(i.stdout).toContain(
    'end       damaged: frame length 3774863615 exceeds the limit of 2147483648 bytes (frame 0 at offset 0) (no frame reads: this does not look like a flatstream stream)\n',
  );
  for (const cmd of ['verify', 'recover']) expect(run(cmd, 'p.jpg').status).toBe(1);
  expect(run('cat', 'p.jpg', '--raw', 'hex').status).toBe(1);
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  for (const cmd of ['info', 'verify', 'cat', 'recover']) {
    const d = run(cmd, '.');
    expect(d.status).toBe(2);
    expect(d.stderr.split('\n')[0]).toBe(`flatstream ${cmd}: .: is a directory, not a stream file`);
    const f = run(cmd, 'fifo');
    expect(f.status).toBe(2);
    expect(f.stderr.split('\n')[0]).toBe(`flatstream ${cmd}: fifo: is a FIFO; give a regular file`);
    const m = run(cmd, 'missing.fst');
    expect(m.status).toBe(2);
    expect(m.stderr.split('\n')[0]).toBe(`flatstream ${cmd}: missing.fst: no such file`);
  }
});

test('a header of an unknown version: clear message, exit 1', () => {
  const path = telemetry();
  const b = readFileSync(path);
  // The version field: the first u16 field of the root table; find it by re-encoding with version 1 → 7.
  const payload = b.subarray(12, headerLength(path));
  const root = payload.readUInt32LE(0);
  const vt = root - payload.readInt32LE(root);
  payload.writeUInt16LE(7, root + payload.readUInt16LE(vt + 4));
  b.writeBigUInt64LE(XxHash64.compute(payload), 4);
  writeFileSync(path, b);
  const r = run('info', 'tel.fst');
  expect(r.status).toBe(1);
  expect(r.stderr).toBe(
    'flatstream info: stream header version 7 is not supported (this flatstream reads version 1) (frame 0 at offset 0)\n',
  );
});

test('every subcommand has --help (exit 0); no command, an unknown one or an unknown option is exit 2', () => {
  for (const cmd of ['info', 'verify', 'cat', 'recover', 'gen']) {
    const r = run(cmd, '--help');
    expect(r.status).toBe(0);
    expect(r.stdout.startsWith(`usage: flatstream ${cmd} `)).toBe(true);
  }
  expect(run('--help').status).toBe(0);
  expect(run().status).toBe(2);
  const u = run('frob');
  expect(u.status).toBe(2);
  expect(u.stderr.split('\n')[0]).toBe('flatstream: unknown command frob');
  plain();
  const o = run('info', 'plain.fst', '--bogus');
  expect(o.status).toBe(2);
  expect(o.stderr.split('\n')[0]).toBe('flatstream info: unknown option --bogus');
  expect(run('info', 'plain.fst', '--checksum', 'md5').status).toBe(2);
  expect(run('info').status).toBe(2);
});

test('--checksum overrides the guess on a headerless stream', () => {
  plain();
  const r = run('info', 'plain.fst', '--checksum', 'crc32c');
  expect(r.stdout).toContain('checksum  crc32c (from --checksum)\n');
  expect(r.stdout).toContain('end       damaged: checksum mismatch');
  expect(r.status).toBe(1);
});

test('the flatstream-rs corpus: info, verify, cat --raw and recover read every file', () => {
  const corpus = join(ROOT, 'test/corpus');
  const files = readdirSync(corpus).filter((f) => f.endsWith('.hex'));
  expect(files.length).toBe(12);
  for (const f of files) {
    const bin = join(dir, f.replace('.hex', '.fst'));
    writeFileSync(
      bin,
      Buffer.from(readFileSync(join(corpus, f), 'utf8').replace(/\s+/g, ''), 'hex'),
    );
    const kind = f.split('_')[0]!;
    const expected = kind === 'default' ? 'none' : kind;
    const info = JSON.parse(run('info', bin, '--json').stdout);
    expect([f, info.checksum, info.frames, info.end]).toEqual([f, expected, 1, 'clean']);
    expect(run('verify', bin).status).toBe(0);
    expect(run('recover', bin).status).toBe(0);
    const cat = run('cat', bin, '--raw', 'hex');
    expect(cat.status).toBe(0);
    expect(cat.stdout.split('\n').length).toBe(2);
  }
});

// Native mode with the addon; portable mode (the same bytes) in the fallback run.
test('a CaptureSink file: info and verify read it', async () => {
  const path = join(dir, 'cap.fst');
  const sink = new CaptureSink(path, { stagingPath: join(dir, 'cap.staging') });
  const w = new StreamWriter(sink, new ChecksumFramer(XxHash64));
  for (let i = 0; i < 100; i++) w.writePayload(Buffer.alloc(10 + (i % 7), i));
  await w.close();
  await sink.close();
  const info = JSON.parse(run('info', 'cap.fst', '--json').stdout);
  expect([info.checksum, info.checksumFrom, info.frames, info.end]).toEqual([
    'xxhash64',
    'frame 0',
    100,
    'clean',
  ]);
  expect(info.payload).toEqual({ min: 10, median: 13, max: 16 });
  expect(run('verify', 'cap.fst').stdout).toBe(
    `ok        100 frames verified (xxhash64), ${readFileSync(path).length} bytes\n`,
  );
});

test('verify draws a progress bar (cli-progress) on a terminal for a large file, and none when piped', () => {
  const path = join(dir, 'big.fst');
  const w = new StreamWriter(path, new ChecksumFramer(XxHash64));
  for (let i = 0; i < 65; i++) w.writePayload(Buffer.alloc(1 << 20, i)); // 65 MiB: above PROGRESS_MIN
  w.close();
  const size = readFileSync(path).length;
  // util-linux `script` runs the command on a pseudo-terminal.
  const tty = spawnSync(
    'script',
    ['-qec', `"${process.execPath}" "${MAIN}" verify big.fst`, '/dev/null'],
    {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env },
    },
  );
  expect(tty.status).toBe(0);
  expect(tty.stdout).toContain(`] 100% | ${size}/${size} bytes`);
  expect(tty.stdout).toContain(`ok        65 frames verified (xxhash64), ${size} bytes`);
  const piped = run('verify', 'big.fst');
  expect(piped.stderr).toBe('');
  expect(piped.stdout).toBe(`ok        65 frames verified (xxhash64), ${size} bytes\n`);
});

test('head -n and tail -n print the first and last messages as cat does', () => {
  plain();
  expect(run('head', '-n', '2', 'plain.fst', '--raw', 'hex').stdout).toBe(
    '{"frame":0,"offset":0,"hex":"616161"}\n{"frame":1,"offset":11,"hex":"62626262"}\n',
  );
  expect(run('tail', '-n', '2', 'plain.fst', '--raw', 'hex').stdout).toBe(
    '{"frame":3,"offset":36,"hex":"646464646464"}\n{"frame":4,"offset":50,"hex":"65656565656565"}\n',
  );
  expect(run('head', 'plain.fst', '--raw', 'hex').stdout.split('\n').length).toBe(6); // default 10: all 5
  expect(run('tail', '-n', '0', 'plain.fst', '--raw', 'hex').stdout).toBe('');
  expect(run('head', '-n', 'x', 'plain.fst', '--raw', 'hex').status).toBe(2);
  telemetry();
  if (native)
    expect(run('tail', '-n', '1', 'tel.fst').stdout).toBe(
      '{"deviceId":"7","timestamp":"1002","value":1}\n',
    );
});

test('tail -f follows a growing file and a rotated one, and ends with exit 0 on SIGTERM', async () => {
  const path = join(dir, 'live.fst');
  const framer = new ChecksumFramer(Crc32);
  const append = (file: string, text: string, header = false): void => {
    const w = new StreamWriter(file, framer, header ? { header: {} } : {});
    w.writePayload(Buffer.from(text));
    w.close();
  };
  append(path, 'one', true);
  const child = spawn(process.execPath, [MAIN, 'tail', '-f', 'live.fst', '--raw', 'hex'], {
    cwd: dir,
    env: { ...process.env },
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const lines = async (n: number): Promise<string[]> => {
    // No timed assertion: wait for the lines (jest's own timeout is the bound).
    while (out.split('\n').length - 1 < n) await new Promise((r) => setTimeout(r, 20));
    return out.split('\n').slice(0, n);
  };
  const hex = (s: string): string => Buffer.from(s).toString('hex');
  expect((await lines(1))[0]).toContain(`"hex":"${hex('one')}"`);
  append(path, 'two');
  // A torn frame at the end is "not yet written": nothing printed, no error.
  const torn = framer.frame(Buffer.from('three'));
  appendFileSync(path, torn.subarray(0, 6));
  append(join(dir, 'other.fst'), 'x'); // unrelated activity
  expect((await lines(2))[1]).toContain(`"hex":"${hex('two')}"`);
  appendFileSync(path, torn.subarray(6));
  expect((await lines(3))[2]).toContain(`"hex":"${hex('three')}"`);
  // Rotation: the path is renamed away, and a new headed file takes its place.
  renameSync(path, join(dir, 'live.1.fst'));
  append(path, 'four', true);
  const l = await lines(4);
  expect(l[3]).toBe(
    `{"frame":1,"offset":${readFileSync(path).readUInt32LE(0) + 8},"hex":"${hex('four')}"}`,
  );
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(err).toBe('');
  expect(out.split('\n').length - 1).toBe(4);
}, 60_000);

test('tail -f on a rotation set (its base path: the latest file) goes on into each next file once the writer rotated: every frame once, in order', async () => {
  const writer = spawn(
    process.execPath,
    [join(ROOT, 'test/rotate-child.js'), 'tail-writer', join(dir, 'ev.fst')],
    {
      env: { ...process.env },
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  let wout = '';
  writer.stdout.on('data', (d: Buffer) => (wout += d.toString()));
  const wexit = new Promise<number | null>((resolve) => writer.on('exit', (code) => resolve(code)));
  while (!wout.includes('ready')) await new Promise((r) => setTimeout(r, 20));
  const child = spawn(
    process.execPath,
    [MAIN, 'tail', '-f', '-n', '100000', 'ev.fst', '--raw', 'hex'],
    {
      cwd: dir,
      env: { ...process.env },
    },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const count = (): number => out.split('\n').length - 1;
  while (count() < 10) await new Promise((r) => setTimeout(r, 20));
  writer.stdin.write('go\n');
  expect(await wexit).toBe(0);
  expect(wout).toMatch(/done (\d+)/);
  const rotations = Number(/done (\d+)/.exec(wout)![1]);
  expect(rotations).toBeGreaterThanOrEqual(9); // 9 explicit ones, plus by size
  while (count() < 3000) await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  expect(err).toBe('');
  const ids = out
    .trim()
    .split('\n')
    .map((l) => Buffer.from((JSON.parse(l) as { hex: string }).hex, 'hex').readUInt32LE(0));
  expect(ids).toEqual(Array.from({ length: 3000 }, (_, i) => i));
  expect(listRotation(join(dir, 'ev.fst')).length).toBe(rotations + 1);
}, 120_000);

test('slice --frames and --from copy exact frames to a new file; a non-boundary offset, an existing OUT are usage errors', () => {
  const path = plain();
  const b = readFileSync(path); // frames at 0, 11, 23, 36, 50
  const r = run('slice', 'plain.fst', '--frames', '1:3', '-o', 'a.fst');
  expect(r.stdout).toBe('wrote a.fst: 2 frames, 25 bytes\n');
  expect(r.status).toBe(0);
  expect(readFileSync(join(dir, 'a.fst'))).toEqual(b.subarray(11, 36));
  expect(run('slice', 'plain.fst', '--from', '36', '-o', 'b.fst').status).toBe(0);
  expect(readFileSync(join(dir, 'b.fst'))).toEqual(b.subarray(36));
  const nb = run('slice', 'plain.fst', '--from', '37', '-o', 'c.fst');
  expect(nb.status).toBe(2);
  expect(nb.stderr.split('\n')[0]).toBe(
    'flatstream slice: --from 37 is not the start of a frame (the next frame starts at 50)',
  );
  expect(readdirSync(dir).sort()).toEqual(['a.fst', 'b.fst', 'plain.fst']);
  const ex = run('slice', 'plain.fst', '--frames', '0:', '-o', 'a.fst');
  expect(ex.status).toBe(2);
  expect(ex.stderr.split('\n')[0]).toBe('flatstream slice: a.fst exists; give a new file with -o');
  expect(readFileSync(join(dir, 'a.fst'))).toEqual(b.subarray(11, 36));
  // A headed stream's slice keeps the header; messages are numbered from 1.
  telemetry();
  expect(run('slice', 'tel.fst', '--frames', '3:', '-o', 't.fst').stdout).toBe(
    `wrote t.fst: a header and 1 frame, ${readFileSync(join(dir, 'tel.fst')).length - 120} bytes\n`,
  );
  const info = JSON.parse(run('info', 't.fst', '--json').stdout);
  expect([info.header.rootType, info.frames, info.end]).toEqual(['events.Telemetry', 1, 'clean']);
});

test('convert re-frames with another checksum and back to the same bytes; the header names the new one; damage writes nothing', () => {
  const path = plain();
  const b = readFileSync(path);
  expect(run('convert', 'plain.fst', '--to', 'xxhash64', '-o', 'x.fst').stdout).toBe(
    'wrote x.fst: 5 frames, 85 bytes (xxhash64)\n',
  );
  expect(JSON.parse(run('info', 'x.fst', '--json').stdout).checksum).toBe('xxhash64');
  expect(run('convert', 'x.fst', '--to', 'crc32', '-o', 'back.fst').status).toBe(0);
  expect(readFileSync(join(dir, 'back.fst'))).toEqual(b);
  telemetry();
  expect(run('convert', 'tel.fst', '--to', 'crc16', '-o', 'c16.fst').status).toBe(0);
  const info = JSON.parse(run('info', 'c16.fst', '--json').stdout);
  expect([info.header.checksum, info.checksum, info.checksumFrom, info.frames]).toEqual([
    'crc16',
    'crc16',
    'header',
    3,
  ]);
  expect(info.header.meta).toEqual({ host: 'a1' });
  const bad = Buffer.from(b);
  bad[23 + 8] ^= 0xff;
  writeFileSync(path, bad);
  const d = run('convert', 'plain.fst', '--to', 'crc64', '-o', 'd.fst');
  expect(d.status).toBe(1);
  expect(d.stderr).toMatch(
    /^flatstream convert: checksum mismatch: .* \(frame 2 at offset 23\); d\.fst was not written\n$/,
  );
  expect(readdirSync(dir).filter((f) => f.startsWith('d.fst'))).toEqual([]);
  expect(run('convert', 'plain.fst', '--to', 'md5', '-o', 'e.fst').status).toBe(2);
});

test('convert round-trips every flatstream-rs corpus file to the same bytes', () => {
  const corpus = join(ROOT, 'test/corpus');
  for (const f of readdirSync(corpus).filter((n) => n.endsWith('.hex'))) {
    const bytes = Buffer.from(readFileSync(join(corpus, f), 'utf8').replace(/\s+/g, ''), 'hex');
    const src = join(dir, f.replace('.hex', '.fst'));
    writeFileSync(src, bytes);
    const kind = f.split('_')[0] === 'default' ? 'none' : f.split('_')[0]!;
    const other = kind === 'crc32' ? 'crc64' : 'crc32';
    expect(run('convert', src, '--to', other, '-o', `${src}.o`).status).toBe(0);
    expect(run('convert', `${src}.o`, '--to', kind, '-o', `${src}.b`).status).toBe(0);
    expect([f, readFileSync(`${src}.b`).equals(bytes)]).toEqual([f, true]);
  }
});

test('tail -f on a file that shrinks: a clear message and exit 1, no hang', async () => {
  const path = plain('shrink.fst');
  const child = spawn(
    process.execPath,
    [MAIN, 'tail', '-f', '-n', '1', 'shrink.fst', '--raw', 'hex'],
    {
      cwd: dir,
      env: { ...process.env },
    },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  while (!out.includes('\n')) await new Promise((r) => setTimeout(r, 20));
  truncateSync(path, 11);
  expect(await exited).toBe(1);
  expect(out).toBe('{"frame":4,"offset":50,"hex":"65656565656565"}\n');
  // Follow mode numbers frames from where it started (docs/design.md "Follow mode").
  expect(err).toBe(
    'flatstream tail: shrink.fst was truncated to 11 bytes, below the 65 bytes already read (frame 0 at offset 65)\n',
  );
}, 60_000);

test("cat through the header's schema verifies every payload first: a payload that is no Telemetry is damage (exit 1)", () => {
  const path = telemetry();
  appendFileSync(
    path,
    new ChecksumFramer(XxHash64).frame(Buffer.from([0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4])),
  );
  const r = run('cat', 'tel.fst');
  if (!native) {
    expect(r.status).toBe(2);
    return;
  }
  expect(r.stdout.split('\n').length - 1).toBe(3);
  expect(r.stderr).toMatch(
    /^flatstream cat: validation failed \(.*\): .* \(frame 4 at offset \d+\)\n$/,
  );
  expect(r.status).toBe(1);
});
