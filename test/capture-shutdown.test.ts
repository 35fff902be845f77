// CaptureSink at shutdown (docs/capture.md, "What is guaranteed, and when"):
// normal exit without close(), process.exit(), an uncaught exception,
// worker.terminate(), several sinks in one process, flush()/flushed() and
// sync(), SIGKILL without a flush, a second opener (EBUSY) and flushOnSignal.
// The processes that exit are children running the built package
// (capture-child.js); files are read back here with the reader. Each test
// that applies to portable mode (docs/capture.md, "Portable mode") runs in
// it too: the fallback run's only mode, forced in the native run with
// FLATSTREAM_TEST_PORTABLE_CAPTURE=1 (the children inherit it).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CHILD,
  child,
  CAPTURE_MODES,
  capturePaths,
  expectExactly,
  inCaptureMode,
  type Frame,
  openCapture,
  readFrames,
  reopenAndClose as reopenCaptureAndClose,
} from './capture-helpers';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'flatstream-capture-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const paths = (name: string) => capturePaths(dir, name);
const open = (name: string, options: Record<string, unknown> = {}) =>
  openCapture(dir, name, options);
const reopenAndClose = (name: string, options: Record<string, unknown> = {}) =>
  reopenCaptureAndClose(dir, name, options);

/** Frames 0..k-1 of `gen` in order, with recorded <= k <= recorded + 1; returns k. */
function expectAtLeast(frames: Frame[], recorded: number, gen: number): number {
  const firstBad = frames.findIndex((f, k) => f.gen !== gen || f.i !== k);
  expect(firstBad).toBe(-1);
  expect(frames.length).toBeGreaterThanOrEqual(recorded);
  expect(frames.length).toBeLessThanOrEqual(recorded + 1);
  return frames.length;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A capture-child.js process; its stdout is JSON lines. */
class Child {
  readonly proc: ChildProcess;
  readonly lines: Record<string, unknown>[] = [];
  stderr = '';
  readonly exited: Promise<Exit>;
  #waiters: (() => void)[] = [];
  #timer: NodeJS.Timeout;

  constructor(scenario: string, cfg: object, stdin: 'pipe' | 'ignore' = 'ignore') {
    this.proc = spawn(process.execPath, [CHILD, scenario, JSON.stringify(cfg)], {
      stdio: [stdin, 'pipe', 'pipe'],
      // Portable mode's one warning would be on stderr, which must stay empty.
      env: { ...process.env, NODE_NO_WARNINGS: '1' },
    });
    let buf = '';
    this.proc.stdout!.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          this.lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          this.lines.push({ text: line });
        }
        for (const w of this.#waiters.splice(0)) w();
      }
    });
    this.proc.stderr!.on('data', (d) => (this.stderr += d));
    this.#timer = setTimeout(() => {
      this.stderr += `\n[test] ${scenario} still running after 20 s: SIGKILLed`;
      this.proc.kill('SIGKILL');
    }, 20_000);
    this.exited = new Promise((r) =>
      this.proc.on('close', (code, signal) => {
        clearTimeout(this.#timer);
        for (const w of this.#waiters.splice(0)) w();
        r({ code, signal });
      }),
    );
  }

  /** Resolves with the first line that has `key` (rejects if the child exits first). */
  async line(key: string): Promise<Record<string, unknown>> {
    for (;;) {
      const l = this.lines.find((x) => key in x);
      if (l) return l;
      if (this.proc.exitCode !== null || this.proc.signalCode !== null)
        throw new Error(
          `child exited without "${key}": ${JSON.stringify(this.lines)} ${this.stderr}`,
        );
      await new Promise<void>((r) => this.#waiters.push(r));
    }
  }
}

const run = async (scenario: string, cfg: object) => {
  const c = new Child(scenario, cfg);
  const exit = await c.exited;
  return { ...exit, lines: c.lines, stderr: c.stderr };
};

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SMALL = { policy: 'block', slabSize: 64 * 1024, slabs: 4 };

describe.each(CAPTURE_MODES)('%s mode', (mode) => {
  const portable = mode === 'portable';
  // What needs the staging (SIGKILL safety) or the stream lock across processes.
  const nativeOnly = portable ? test.skip : test;
  inCaptureMode(mode);

  describe('CaptureSink at exit (child processes)', () => {
    const N = 3000; // ~1 MB: several 64 KiB slabs handed over, the last ones only staged
    test.each([
      ['normal exit without close()', 'return', 0],
      ['process.exit() after writes, no flush', 'process.exit', 0],
      ['an uncaught exception after writes', 'throw', 1],
    ])('%s: the file holds every frame, without reopening', async (_, end, status) => {
      const cfg = { ...paths('exit'), n: N, end, options: SMALL };
      const r = await run('exit', cfg);
      expect({ code: r.code, signal: r.signal }).toEqual({ code: status, signal: null });
      if (end === 'throw') expect(r.stderr).toContain('uncaught on purpose');
      else expect(r.stderr).toBe('');
      expect(r.lines).toEqual([{ written: N }]);
      expectExactly(readFrames(cfg.file), N);
      // Nothing was left behind twice: a reopen adds no frame.
      await reopenAndClose('exit', SMALL);
      expectExactly(readFrames(cfg.file), N);
    });

    test('worker.terminate() mid-capture: each worker file holds every frame written before it (portable: a prefix of them); the main sink is exact', async () => {
      const names = ['main', 'w0', 'w1'];
      const cfg = {
        files: names.map((n) => paths(n).file),
        stagings: names.map((n) => paths(n).staging),
        before: 3000,
        options: SMALL,
      };
      const r = await run('workers', cfg);
      expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({
        code: 0,
        signal: null,
        stderr: '',
      });
      const res = r.lines.at(-1) as { main: number; recorded: number[] };
      expect(r.lines).toEqual([res]); // no worker error lines
      expectExactly(readFrames(cfg.files[0]!), res.main, 0);
      for (const k of [0, 1]) {
        if (portable) {
          // A terminated worker runs no JavaScript: its filling slab is lost,
          // what it had written is a prefix.
          const frames = readFrames(cfg.files[k + 1]!);
          expect(frames.length).toBeLessThanOrEqual(res.recorded[k]!);
          expectExactly(frames, frames.length, k + 1);
          continue;
        }
        const have = expectAtLeast(readFrames(cfg.files[k + 1]!), res.recorded[k]!, k + 1);
        // terminate() wrote everything staged: a reopen adds nothing.
        await reopenAndClose(names[k + 1]!, SMALL);
        expect(readFrames(cfg.files[k + 1]!).length).toBe(have);
      }
    });

    test('three sinks in one process, all closed cleanly: exact counts, staging removed', async () => {
      const names = ['a', 'b', 'c'];
      const cfg = {
        files: names.map((n) => paths(n).file),
        stagings: names.map((n) => paths(n).staging),
        rounds: 100,
        options: SMALL,
      };
      const r = await run('multi', cfg);
      expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({
        code: 0,
        signal: null,
        stderr: '',
      });
      const { counts } = r.lines.at(-1) as { counts: number[] };
      for (const k of [0, 1, 2]) {
        expect(existsSync(cfg.stagings[k]!)).toBe(false); // a clean close removes it
        expectExactly(readFrames(cfg.files[k]!), counts[k]!, k);
      }
    });
  });

  describe('CaptureSink guarantees', () => {
    test('after flush() and await flushed() the frames are in the stream file while the sink is open; sync() counts an fsync', async () => {
      const { sink, writer, file } = open('flushed', { flushIntervalMs: 60_000 });
      const payload = child.makePayloads();
      for (let i = 0; i < 100; i++) writer.writePayload(payload(0, i));
      writer.flush();
      await sink.flushed();
      expectExactly(readFrames(file), 100);
      for (let i = 100; i < 150; i++) writer.writePayload(payload(0, i));
      const fsyncs = sink.stats().fsyncs;
      writer.sync();
      await sink.flushed();
      expect(sink.stats().fsyncs).toBeGreaterThan(fsyncs);
      expectExactly(readFrames(file), 150);
      writer.close();
      await writer.finished();
      expectExactly(readFrames(file), 150);
    });

    nativeOnly(
      'SIGKILL without a flush: the frames are not in the stream file, and are after reopening',
      async () => {
        const cfg = { ...paths('noflush'), n: 100, cap: 300, options: { flushIntervalMs: 60_000 } };
        const c = new Child('noflush', cfg);
        expect(await c.line('written')).toMatchObject({ written: 100, queueDepth: 0 });
        c.proc.kill('SIGKILL');
        expect(await c.exited).toEqual({ code: null, signal: 'SIGKILL' });
        expect(readFrames(cfg.file, 300)).toEqual([]);
        const stats = await reopenAndClose('noflush', { flushIntervalMs: 60_000 });
        expect(stats.recoveredFrames).toBe(100);
        expectExactly(readFrames(cfg.file, 300), 100);
      },
    );

    nativeOnly(
      'a second live sink on the same path is refused with EBUSY (another process, then this one)',
      async () => {
        const cfg = { ...paths('busy'), n: 10 };
        const c = new Child('hold', cfg);
        await c.line('ready');
        const busy = (): unknown => {
          try {
            open('busy');
          } catch (e) {
            return e;
          }
          return undefined;
        };
        const e1 = busy() as (Error & { code?: string; systemCode?: string }) | undefined;
        expect(e1).toBeInstanceOf(Error);
        expect([e1?.code, e1?.systemCode]).toContain('EBUSY');
        c.proc.kill('SIGKILL');
        await c.exited;

        // The lock died with the process: this one opens (draining its 10 frames).
        const { sink, writer, file } = open('busy');
        expect(sink.stats().recoveredFrames).toBe(10);
        const e2 = busy() as (Error & { code?: string; systemCode?: string }) | undefined;
        expect(e2).toBeInstanceOf(Error);
        expect([e2?.code, e2?.systemCode]).toContain('EBUSY');
        writer.close();
        await writer.finished();
        expectExactly(readFrames(file), 10);
      },
    );
  });

  describe('CaptureSink flushOnSignal (child processes)', () => {
    const opts = { flushIntervalMs: 60_000 };
    test('no SIGTERM handler of its own: dies by SIGTERM, the file holds every frame without reopening', async () => {
      const cfg = { ...paths('sig'), n: 200, options: opts };
      const c = new Child('signal', cfg);
      await c.line('ready');
      c.proc.kill('SIGTERM');
      expect(await c.exited).toEqual({ code: null, signal: 'SIGTERM' });
      expect(c.stderr).toBe('');
      expectExactly(readFrames(cfg.file), 200);
    });

    test('its own SIGTERM listener keeps it running: the frames are flushed at the signal and the sink goes on', async () => {
      const cfg = { ...paths('sig'), n: 200, more: 50, own: true, options: opts };
      const c = new Child('signal', cfg, 'pipe');
      await c.line('ready');
      c.proc.kill('SIGTERM');
      expect(await c.line('term')).toEqual({ term: 200 });
      await delay(50);
      expect([c.proc.exitCode, c.proc.signalCode]).toEqual([null, null]); // still running
      expectExactly(readFrames(cfg.file), 200);
      c.proc.stdin!.write('exit\n');
      expect(await c.exited).toEqual({ code: 0, signal: null });
      expect(c.lines.at(-1)).toEqual({ done: 250 });
      expect(c.stderr).toBe('');
      expectExactly(readFrames(cfg.file), 250);
    });
  });
});
