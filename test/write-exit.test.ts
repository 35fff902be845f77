// Issue 10, defect 4: a writer to a file that is never closed writes what it
// accepted when the process (or a worker) exits: a normal exit,
// process.exit(), an uncaught exception. Each case runs in a child process.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChecksumFramer, XxHash64 } from '../lib/index';
import { bytes } from './helpers';

const DIST = join(__dirname, '..', 'dist', 'cjs', 'index.js');
const framer = new ChecksumFramer(XxHash64);
const P = [bytes(30, 1), bytes(5, 2), bytes(70, 3)];
const FRAMES = Buffer.concat(P.map((p) => framer.frame(p)));

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fs-exit-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `body` in a child with `fs` (the package), `file`, `bytes(n, seed)` and `P` in scope. */
function run(body: string, extraArgs: string[] = []): { status: number | null; stderr: string } {
  const script = join(dir, 'child.js');
  writeFileSync(
    script,
    `'use strict';
const fs = require(${JSON.stringify(DIST)});
const file = ${JSON.stringify(join(dir, 'out.fst'))};
function bytes(n, seed) {
  const out = Buffer.allocUnsafe(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; out[i] = x >>> 24; }
  return out;
}
const P = [bytes(30, 1), bytes(5, 2), bytes(70, 3)];
const framer = new fs.ChecksumFramer(fs.XxHash64);
${body}
`,
  );
  const r = spawnSync(process.execPath, [...extraArgs, script], {
    env: process.env,
    timeout: 30_000,
  });
  return { status: r.status, stderr: r.stderr.toString() };
}

const out = (): Buffer => readFileSync(join(dir, 'out.fst'));
const WRITE = `const w = new fs.StreamWriter(file, framer); for (const p of P) w.writePayload(p);`;

describe('an unclosed FileSink writer flushes at exit', () => {
  test('on a normal exit', () => {
    const r = run(WRITE);
    expect(r).toEqual({ status: 0, stderr: '' });
    expect(out()).toEqual(FRAMES);
  });

  test('on process.exit()', () => {
    const r = run(`${WRITE} process.exit(3);`);
    expect(r).toEqual({ status: 3, stderr: '' });
    expect(out()).toEqual(FRAMES);
  });

  test('on an uncaught exception (sync and from a timer)', () => {
    let r = run(`${WRITE} throw new Error('boom');`);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('Error: boom');
    expect(out()).toEqual(FRAMES);
    rmSync(join(dir, 'out.fst'));
    r = run(`${WRITE} setTimeout(() => { throw new Error('late'); }, 1);`);
    expect(r.status).toBe(1);
    expect(out()).toEqual(FRAMES);
  });

  test('on process.exit() from inside serialize(): the frames accepted before it', () => {
    const r = run(`${WRITE} w.write({ serialize: () => process.exit(0) });`);
    expect(r).toEqual({ status: 0, stderr: '' });
    expect(out()).toEqual(FRAMES);
  });

  test('after the first frame of a slab threw: the frames staged after it are still flushed', () => {
    const r = run(`
      const picky = { name: 'picky', width: 1, compute: (p) => { if (p.length === 3) throw new Error('no'); return p.length; } };
      const f = new fs.ChecksumFramer(picky);
      const w = new fs.StreamWriter(file, f);
      try { w.writePayload(bytes(3, 1)); } catch {}
      w.writePayload(P[0]);`);
    expect(r).toEqual({ status: 0, stderr: '' });
    expect(out()).toEqual(Buffer.concat([Buffer.from([30, 0, 0, 0, 30]), P[0]!]));
  });

  test('with an fd target and a custom synchronous sink that opts in', () => {
    const r = run(`
      const fd = require('node:fs').openSync(file, 'a');
      const a = new fs.StreamWriter(fd, framer);
      a.writePayload(P[0]);
      const got = [];
      const b = new fs.StreamWriter({ write: (c) => require('node:fs').writeSync(fd, c) }, framer, { flushOnExit: true });
      b.writePayload(P[1]);
      const c = new fs.StreamWriter({ write: (c) => require('node:fs').writeSync(fd, c) }, framer);
      c.writePayload(bytes(9, 9)); // not opted in: lost
      process.on('exit', () => {}); // other listeners do not matter
      a.writePayload(P[2]);`);
    expect(r).toEqual({ status: 0, stderr: '' });
    // Flushed in the order the writers were armed.
    expect(out()).toEqual(Buffer.concat([P[0]!, P[2]!, P[1]!].map((p) => framer.frame(p))));
  });

  test('a sink that fails at exit: the error goes to stderr, the exit code is kept, other writers still flush', () => {
    const r = run(`
      const bad = new fs.StreamWriter({ write() { throw new Error('disk gone'); } }, framer, { flushOnExit: true });
      bad.writePayload(P[0]);
      ${WRITE}
      process.exitCode = 4;`);
    expect(r.status).toBe(4);
    expect(r.stderr).toContain(
      'flatstream: flushing at exit failed: IoError: sink failed: disk gone',
    );
    expect(out()).toEqual(FRAMES);
  });

  test('closed, flushed and failed writers write nothing more at exit', () => {
    const r = run(`
      ${WRITE}
      w.close();
      const w2 = new fs.StreamWriter(file, framer);
      w2.writePayload(P[0]);
      w2.flush();`);
    expect(r).toEqual({ status: 0, stderr: '' });
    expect(out()).toEqual(Buffer.concat([FRAMES, framer.frame(P[0]!)]));
  });

  test('flushOnExit: true is refused for a Writable and a slab source, before either is touched; a non-boolean is a TypeError', () => {
    const r = run(`
      const res = [];
      const { PassThrough } = require('node:stream');
      try { new fs.StreamWriter(new PassThrough(), framer, { flushOnExit: true }); } catch (e) { res.push(e.code); }
      try { new fs.StreamWriter(file, framer, { flushOnExit: 'yes' }); } catch (e) { res.push(e.code); }
      const stream = new PassThrough();
      try { new fs.StreamWriter(new fs.WritableSink(stream), framer, { flushOnExit: true }); } catch (e) { res.push(e.code); }
      const staging = { bind() { throw new Error('bound'); }, acquire() {}, submit() {} };
      try { new fs.StreamWriter(staging, framer, { flushOnExit: true }); } catch (e) { res.push(e.code); }
      const bare = new PassThrough();
      try { new fs.StreamWriter(bare, framer, { flushOnExit: true }); } catch (e) { res.push(e.code); }
      res.push(bare.listenerCount('error'));
      process.stderr.write(JSON.stringify(res));`);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stderr)).toEqual([
      'ERR_INVALID_ARG_VALUE',
      'ERR_INVALID_ARG_TYPE',
      'ERR_INVALID_ARG_VALUE',
      'ERR_INVALID_ARG_VALUE',
      'ERR_INVALID_ARG_VALUE',
      0,
    ]);
  });
});

describe('in a worker thread', () => {
  const WORKER = (ending: string) => `
    const { Worker, isMainThread, parentPort } = require('node:worker_threads');
    if (isMainThread) {
      const wk = new Worker(__filename);
      wk.on('message', (m) => { if (m === 'staged') ${ending === 'terminate' ? 'wk.terminate()' : '0'}; });
      wk.on('error', () => {});
    } else {
      const w = new fs.StreamWriter(file, framer);
      w.writePayload(P[0]);
      w.flush();
      w.writePayload(P[1]);
      w.writePayload(P[2]);
      ${
        ending === 'exit'
          ? 'process.exit(0);'
          : ending === 'natural'
            ? ''
            : "parentPort.postMessage('staged'); setInterval(() => {}, 1000);"
      }
    }`;

  test('a worker that ends flushes its writer', () => {
    expect(run(WORKER('natural'))).toEqual({ status: 0, stderr: '' });
    expect(out()).toEqual(FRAMES);
  });

  test('a worker that calls process.exit() flushes its writer', () => {
    expect(run(WORKER('exit'))).toEqual({ status: 0, stderr: '' });
    expect(out()).toEqual(FRAMES);
  });

  test('a terminated worker runs no JavaScript: what it flushed is intact, what it only staged is lost', () => {
    expect(run(WORKER('terminate'))).toEqual({ status: 0, stderr: '' });
    expect(out()).toEqual(framer.frame(P[0]!));
  });
});

describe('the hook itself', () => {
  test('one exit listener however many writers; idle unclosed writers are collected', () => {
    const r = run(
      `
      const before = process.listenerCount('exit');
      const fd = require('node:fs').openSync(file, 'a');
      const refs = [];
      for (let i = 0; i < 2000; i++) {
        const w = new fs.StreamWriter(fd, framer);
        w.writePayload(P[1]);
        if (i % 2 === 0) w.flush(); // idle: nothing staged
        refs.push(new WeakRef(w));
      }
      const after = process.listenerCount('exit');
      (async () => {
        for (let k = 0; k < 10; k++) { global.gc(); await new Promise((r) => setImmediate(r)); }
        const alive = refs.filter((r, i) => r.deref() !== undefined);
        const aliveIdle = refs.filter((r, i) => i % 2 === 0 && r.deref() !== undefined).length;
        process.stderr.write(JSON.stringify({ before, after, alive: alive.length, aliveIdle }));
      })();`,
      ['--expose-gc'],
    );
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stderr)).toEqual({ before: 0, after: 1, alive: 1000, aliveIdle: 0 });
    // The 1000 writers with staged frames were held and flushed at exit.
    expect(out()).toEqual(Buffer.concat(Array.from({ length: 2000 }, () => framer.frame(P[1]!))));
  });
});

describe('the flush timer', () => {
  test('holds an unclosed writer only while it has staged frames: they are flushed, then the writer is collected', () => {
    const r = run(
      `
      const sink = new fs.MemorySink();
      let ref;
      (() => {
        const w = new fs.StreamWriter(sink, framer, { flushIntervalMs: 5 });
        w.writePayload(P[0]);
        ref = new WeakRef(w);
      })();
      (async () => {
        global.gc();
        await new Promise((r) => setTimeout(r, 50)); // the timer flushes
        for (let k = 0; k < 5; k++) { global.gc(); await new Promise((r) => setImmediate(r)); }
        process.stderr.write(JSON.stringify({ collected: ref.deref() === undefined, hex: sink.toBuffer().toString('hex') }));
      })();`,
      ['--expose-gc'],
    );
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stderr)).toEqual({
      collected: true,
      hex: framer.frame(P[0]!).toString('hex'),
    });
  });
});
