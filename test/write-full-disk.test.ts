// A writer to a FileSink on a full filesystem: a 256 KiB tmpfs mounted on
// /dev/shm inside a private mount namespace (the machine's own /dev/shm is
// never touched). The child reads the file back itself: the mount is gone
// when it exits.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const DIST = join(__dirname, '..', 'dist', 'cjs', 'index.js');

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fs-full-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function inSmallShm(body: string): { status: number | null; stdout: string; stderr: string } {
  const script = join(dir, 'child.js');
  writeFileSync(
    script,
    `'use strict';
const fs = require(${JSON.stringify(DIST)});
const nodeFs = require('node:fs');
const framer = new fs.ChecksumFramer(fs.XxHash64);
const deframer = new fs.ChecksumDeframer(fs.XxHash64);
function scan(path) {
  let frames = 0, error = null;
  try { new fs.StreamReader(nodeFs.readFileSync(path), deframer).processAll(() => { frames++; }); }
  catch (e) { error = e.constructor.name; }
  return { frames, error };
}
${body}
`,
  );
  const r = spawnSync(
    'unshare',
    [
      '-m',
      'sh',
      '-c',
      `mount -t tmpfs -o size=256k tmpfs /dev/shm && exec "$0" "$1"`,
      process.execPath,
      script,
    ],
    { env: process.env, timeout: 60_000 },
  );
  return { status: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

test('ENOSPC: the writer fails with IoError ENOSPC for good; the file holds whole frames then one torn slab; nothing hangs', () => {
  const r = inSmallShm(`
    const w = new fs.StreamWriter('/dev/shm/out.fst', framer, { slabSize: 4096 });
    const payload = Buffer.alloc(1000, 7);
    let accepted = 0, err;
    try { for (let i = 0; i < 1000; i++) { w.writePayload(payload); accepted++; } } catch (e) { err = e; }
    const again = (() => { try { w.writePayload(payload); } catch (e) { return e === err; } })();
    let closeErr; try { w.close(); } catch (e) { closeErr = e === err; }
    const size = nodeFs.statSync('/dev/shm/out.fst').size;
    process.stdout.write(JSON.stringify({ name: err.constructor.name, code: err.code, systemCode: err.systemCode,
      accepted, again, closeErr, size, ...scan('/dev/shm/out.fst') }));`);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const out = JSON.parse(r.stdout);
  expect(out).toMatchObject({
    name: 'IoError',
    code: 'ERR_FLATSTREAM_IO',
    systemCode: 'ENOSPC',
    again: true,
    closeErr: true,
    size: 256 * 1024,
  });
  // Whole frames (1012 bytes each) fill the file up to the torn one.
  expect(out.frames).toBe(Math.floor((256 * 1024) / 1012));
  expect(out.error).toBe('UnexpectedEofError');
  // Frames accepted: those of every slab handed over before the failing one (4 per slab).
  expect(out.accepted).toBeGreaterThanOrEqual(out.frames);
});

test('ENOSPC at exit: the flush failure goes to stderr, the exit code stays, no hang', () => {
  const r = inSmallShm(`
    nodeFs.writeFileSync('/dev/shm/filler', Buffer.alloc(250 * 1024));
    const w = new fs.StreamWriter('/dev/shm/out.fst', framer);
    for (let i = 0; i < 20; i++) w.writePayload(Buffer.alloc(1000, i)); // 20 KiB staged, 6 KiB free
    process.exitCode = 5;`);
  expect(r.status).toBe(5);
  expect(r.stderr).toMatch(
    /^flatstream: flushing at exit failed: IoError: FileSink '\/dev\/shm\/out.fst': .*ENOSPC/,
  );
});
