/**
 * Independent code for the codec tests, made at test time with Debian's
 * flatc: a C++ verifier binary over flatc's generated C++ for the test
 * schemas (test/schema-cpp/verify_main.cc), and flatc's generated TS with
 * its object API (`unpack()`, `pack()`). Built into build-codec/ (ignored
 * by git), once per content of the inputs.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');
const SCHEMAS = [
  join(ROOT, 'test/schema/events.fbs'),
  join(ROOT, 'test/schema/coverage.fbs'),
  join(ROOT, 'test/schema-cpp/arrays.fbs'),
];
const MAIN = join(ROOT, 'test/schema-cpp/verify_main.cc');

function built(): string {
  const h = createHash('sha256');
  for (const f of [...SCHEMAS, MAIN]) h.update(readFileSync(f));
  const dir = join(ROOT, 'build-codec', h.digest('hex').slice(0, 16));
  if (existsSync(join(dir, 'done'))) return dir;
  const tmp = `${dir}.${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  execFileSync('flatc', ['--cpp', '-o', join(tmp, 'cpp'), ...SCHEMAS]);
  execFileSync('flatc', [
    '--ts',
    '--gen-object-api',
    '-o',
    join(tmp, 'ts'),
    ...SCHEMAS.slice(0, 2),
  ]);
  execFileSync('g++', [
    '-std=c++17',
    '-O1',
    '-I',
    join(tmp, 'cpp'),
    MAIN,
    '-o',
    join(tmp, 'verify'),
  ]);
  execFileSync('touch', [join(tmp, 'done')]);
  try {
    renameSync(tmp, dir);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another process won the race
  }
  return dir;
}

const dir = built();

/** flatc's C++ verifier of `root` over each payload: true when it verifies. */
export function cppVerify(root: string, payloads: readonly Uint8Array[]): boolean[] {
  const parts: Buffer[] = [];
  for (const p of payloads) {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(p.length);
    parts.push(len, Buffer.from(p.buffer, p.byteOffset, p.length));
  }
  const out = execFileSync(join(dir, 'verify'), [root], {
    input: Buffer.concat(parts),
    maxBuffer: 1 << 26,
  }).toString();
  return [...out].map((c) => c === '1');
}

/* eslint-disable @typescript-eslint/no-require-imports */
/** flatc's generated TS (with the object API) for events.fbs. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const flatcEvents: any = require(join(dir, 'ts/events_generated'));
/** flatc's generated TS (with the object API) for coverage.fbs. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const flatcCoverage: any = require(join(dir, 'ts/coverage_generated'));
