import { EventEmitter, once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { ClosedError, IoError } from '../lib/index';
import { WritableSink } from '../lib/sinks/writable-sink';
import { bytes, thrown } from './helpers';

/** Resolves on 'close' (events.once would reject on the 'error' before it). */
const closed = (s: Writable): Promise<void> =>
  new Promise((resolve) => s.once('close', () => resolve()));

/** Waits for a turn of the event loop, after pending callbacks and ticks. */
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Settles the promise's state into a field, for checks without awaiting. */
function track(p: Promise<void>): { state: 'pending' | 'resolved' | 'rejected'; error?: unknown } {
  const t: { state: 'pending' | 'resolved' | 'rejected'; error?: unknown } = { state: 'pending' };
  p.then(
    () => (t.state = 'resolved'),
    (e: unknown) => {
      t.state = 'rejected';
      t.error = e;
    },
  );
  return t;
}

/** A Writable whose writes complete `delayMs` later, recording what it saw. */
function slowWritable(highWaterMark: number, delayMs = 2) {
  const seen: Buffer[] = [];
  const events: string[] = [];
  const stream = new Writable({
    highWaterMark,
    write(chunk: Buffer, _encoding, callback) {
      const k = seen.length;
      seen.push(chunk);
      setTimeout(() => {
        events.push(`wrote ${k}`);
        callback();
      }, delayMs);
    },
  });
  return { stream, seen, events };
}

function ioError(code: string | undefined, text: string): Error {
  return code
    ? Object.assign(new Error(text), { code, errno: -os.constants.errno.EIO, syscall: 'write' })
    : new Error(text);
}

describe('WritableSink: writes', () => {
  test('bytes arrive in order; the promise for chunk k settles only after the stream wrote it', async () => {
    const { stream, seen, events } = slowWritable(16);
    const sink = new WritableSink(stream);
    const chunks = Array.from({ length: 20 }, (_, k) => bytes(1 + ((k * 7) % 30), k));
    const promises = chunks.map((c, k) => {
      const p = sink.write(c);
      void p.then(() => events.push(`settled ${k}`));
      return p;
    });
    await Promise.all(promises);
    for (let k = 0; k < chunks.length; k++) {
      expect(events.indexOf(`wrote ${k}`)).toBeGreaterThanOrEqual(0);
      expect(events.indexOf(`settled ${k}`)).toBeGreaterThan(events.indexOf(`wrote ${k}`));
    }
    expect(Buffer.concat(seen)).toEqual(Buffer.concat(chunks));
    await sink.close();
  });

  test('each promise stays pending until the stream calls back for that chunk', async () => {
    // The test plays the disk: it completes each write by hand.
    const callbacks: Array<() => void> = [];
    const stream = new Writable({
      highWaterMark: 4,
      write(_chunk, _encoding, callback) {
        callbacks.push(() => callback());
      },
    });
    const sink = new WritableSink(stream);
    const states = [0, 1, 2].map((k) => track(sink.write(bytes(3, k))));
    for (let k = 0; k < states.length; k++) {
      await tick();
      expect(states.map((t) => t.state)).toEqual(
        states.map((_, j) => (j < k ? 'resolved' : 'pending')),
      );
      expect(callbacks.length).toBe(k + 1); // the stream works on chunk k
      callbacks[k]!();
    }
    await tick();
    expect(states.map((t) => t.state)).toEqual(['resolved', 'resolved', 'resolved']);
  });

  test('never copies: the stream sees the same Buffer, or the same memory of a Uint8Array', async () => {
    const { stream, seen } = slowWritable(1024, 5);
    const sink = new WritableSink(stream);
    const buf = bytes(64);
    const backing = new Uint8Array(256);
    const view = backing.subarray(10, 110);
    const p1 = sink.write(buf);
    const p2 = sink.write(view);
    // Mutated after write() and before the stream calls back: a copy would
    // not see it.
    view.fill(0xab);
    await Promise.all([p1, p2]);
    expect(seen[0]).toBe(buf);
    expect(seen[1]!.buffer).toBe(backing.buffer);
    expect(seen[1]!.byteOffset).toBe(view.byteOffset);
    expect(seen[1]!.length).toBe(100);
    expect(seen[1]!.every((b) => b === 0xab)).toBe(true);
    await sink.close();
  });

  test('works with an fs.WriteStream', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flatstream-writable-sink-'));
    try {
      const file = path.join(dir, 's.bin');
      const sink = new WritableSink(fs.createWriteStream(file));
      const chunks = [bytes(100, 1), bytes(70000, 2), bytes(3, 3)];
      await Promise.all(chunks.map((c) => sink.write(c)));
      await sink.close();
      expect(fs.readFileSync(file)).toEqual(Buffer.concat(chunks));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('WritableSink: backpressure', () => {
  test('needsDrain follows the stream; drain() resolves on its drain event', async () => {
    const { stream } = slowWritable(8, 5);
    const sink = new WritableSink(stream);
    expect(sink.needsDrain).toBe(false);
    await sink.drain(); // not needed: resolves at once
    void sink.write(bytes(4));
    expect(sink.needsDrain).toBe(false);
    void sink.write(bytes(6)); // 10 bytes buffered > highWaterMark 8
    expect(sink.needsDrain).toBe(true);
    expect(stream.writableNeedDrain).toBe(true);
    const drained = track(sink.drain());
    await tick();
    expect(drained.state).toBe('pending');
    await once(stream, 'drain');
    await tick();
    expect(drained.state).toBe('resolved');
    expect(sink.needsDrain).toBe(false);
    await sink.close();
  });

  test('streams without writableNeedDrain (userland) are followed by write() results and drain events', async () => {
    // A minimal Writable look-alike: the sink must not depend on Node's class.
    class Fake extends EventEmitter {
      readonly callbacks: Array<(err?: Error | null) => void> = [];
      destroyed = false;
      writableEnded = false;
      writableFinished = false;
      write(_chunk: Uint8Array, cb: (err?: Error | null) => void): boolean {
        this.callbacks.push(cb);
        return this.callbacks.length < 2;
      }
      end(): void {
        this.writableEnded = true;
        setImmediate(() => {
          this.writableFinished = true;
          this.emit('finish');
        });
      }
    }
    const fake = new Fake();
    const sink = new WritableSink(fake as unknown as Writable);
    const p1 = sink.write(bytes(1));
    expect(sink.needsDrain).toBe(false);
    const p2 = sink.write(bytes(1));
    expect(sink.needsDrain).toBe(true);
    const drained = sink.drain();
    for (const cb of fake.callbacks) cb(null);
    fake.emit('drain');
    await Promise.all([p1, p2, drained]);
    expect(sink.needsDrain).toBe(false);
    await sink.close();
    expect(fake.writableFinished).toBe(true);
  });

  test('drain() rejects with an IoError when the stream errors or closes first', async () => {
    const a = slowWritable(1, 50);
    const sinkA = new WritableSink(a.stream);
    void sinkA.write(bytes(4));
    const errored = track(sinkA.drain());
    a.stream.destroy(ioError('EIO', 'cable cut'));
    await closed(a.stream);
    expect(errored.state).toBe('rejected');
    expect(errored.error).toBeInstanceOf(IoError);
    expect(errored.error).toMatchObject({ systemCode: 'EIO' });

    const b = slowWritable(1, 50);
    const sinkB = new WritableSink(b.stream);
    void sinkB.write(bytes(4));
    const drainB = track(sinkB.drain());
    b.stream.destroy();
    await closed(b.stream);
    expect(drainB.state).toBe('rejected');
    expect(drainB.error).toBeInstanceOf(IoError);
    expect((drainB.error as Error).message).toContain("closed before 'drain'");
  });
});

describe('WritableSink: errors', () => {
  test('a write the stream fails rejects with an IoError; later calls report it', async () => {
    const failure = ioError('EIO', 'disk on fire');
    let calls = 0;
    const stream = new Writable({
      write(_chunk, _encoding, callback) {
        setTimeout(() => callback(calls++ === 0 ? null : failure), 1);
      },
    });
    const sink = new WritableSink(stream);
    await sink.write(bytes(3));
    const err = await sink.write(bytes(3)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(IoError);
    expect(err).toMatchObject({
      code: 'ERR_FLATSTREAM_IO',
      systemCode: 'EIO',
      errno: -os.constants.errno.EIO,
      syscall: 'write',
      message: 'WritableSink: write failed: disk on fire',
    });
    expect((err as Error).cause).toBe(failure);
    // The 'error' event was handled by the sink (jest would fail on an unhandled one).
    await tick();
    expect(sink.error).toBe(err);
    expect(thrown(() => sink.write(bytes(1)))).toBe(err);
    expect(thrown(() => sink.flush())).toBe(err);
    expect(sink.needsDrain).toBe(false);
    await expect(sink.drain()).rejects.toBe(err);
    await expect(sink.close()).rejects.toBe(err);
  });

  test('an error without a code still surfaces as an IoError (systemCode undefined)', async () => {
    const stream = new Writable({ write: (_c, _e, cb) => cb(new Error('nope')) });
    const sink = new WritableSink(stream);
    const err = await sink.write(bytes(1)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IoError);
    expect(err).toMatchObject({ systemCode: undefined, errno: undefined });
  });

  test("a stream 'error' event between writes is reported by the next call, never unhandled", async () => {
    const { stream } = slowWritable(1024);
    const sink = new WritableSink(stream);
    expect(stream.listenerCount('error')).toBe(1);
    stream.destroy(ioError('EPIPE', 'peer went away'));
    await closed(stream);
    const e = thrown(() => sink.write(bytes(1)));
    expect(e).toBeInstanceOf(IoError);
    expect(e).toMatchObject({
      systemCode: 'EPIPE',
      message: 'WritableSink: stream error: peer went away',
    });
  });

  test('writes still queued when the stream is destroyed reject; the one in flight follows its callback', async () => {
    const { stream } = slowWritable(1024, 20);
    const sink = new WritableSink(stream);
    const inFlight = track(sink.write(bytes(1)));
    const queued = track(sink.write(bytes(1)));
    await tick();
    stream.destroy();
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(queued.state).toBe('rejected');
    expect(queued.error).toMatchObject({ systemCode: 'ERR_STREAM_DESTROYED' });
    expect(inFlight.state).toBe('resolved'); // _write finished it after destroy()
  });

  test('a destroyed or ended stream makes write() throw an IoError without calling stream.write', () => {
    const destroyed = new Writable({ write: (_c, _e, cb) => cb() });
    const sinkD = new WritableSink(destroyed);
    destroyed.destroy();
    const writeD = jest.spyOn(destroyed, 'write');
    const e1 = thrown(() => sinkD.write(bytes(1)));
    expect(e1).toBeInstanceOf(IoError);
    expect(e1.message).toBe('WritableSink: the stream was destroyed');
    expect(writeD).not.toHaveBeenCalled();

    const ended = new Writable({ write: (_c, _e, cb) => cb() });
    const sinkE = new WritableSink(ended);
    ended.end();
    const e2 = thrown(() => sinkE.write(bytes(1)));
    expect(e2).toBeInstanceOf(IoError);
    expect(e2.message).toBe('WritableSink: the stream has ended');
  });

  test('bad arguments are TypeErrors with Node codes', () => {
    for (const fn of [
      () => new WritableSink(null as unknown as Writable),
      () => new WritableSink({ write() {} } as unknown as Writable),
      () => new WritableSink(new Writable(), 'x' as unknown as object),
      () => new WritableSink(new Writable(), { end: 1 as unknown as boolean }),
      () => new WritableSink(new Writable()).write('abc' as unknown as Uint8Array),
    ]) {
      const e = thrown(fn);
      expect(e).toBeInstanceOf(TypeError);
      expect(e.code).toBe('ERR_INVALID_ARG_TYPE');
    }
  });
});

describe('WritableSink: close', () => {
  test("close() ends the stream and resolves after 'finish'; idempotent; then ClosedError", async () => {
    const { stream, seen } = slowWritable(16, 5);
    const sink = new WritableSink(stream);
    const order: string[] = [];
    stream.on('finish', () => order.push('finish'));
    const p = sink.write(bytes(40));
    const closing = sink.close();
    expect(sink.close()).toBe(closing);
    expect(stream.writableEnded).toBe(true);
    await closing.then(() => order.push('closed'));
    await p;
    expect(order).toEqual(['finish', 'closed']);
    expect(seen.length).toBe(1);
    expect(thrown(() => sink.write(bytes(1)))).toBeInstanceOf(ClosedError);
    expect(thrown(() => sink.flush())).toBeInstanceOf(ClosedError);
  });

  test('end: false waits for pending writes and hands the stream back open', async () => {
    const { stream, events } = slowWritable(16, 5);
    const listeners = ['error', 'drain', 'finish', 'close'].map((e) => stream.listenerCount(e));
    const sink = new WritableSink(stream, { end: false });
    void sink.write(bytes(10));
    void sink.write(bytes(10));
    await sink.close();
    expect(events).toEqual(['wrote 0', 'wrote 1']);
    expect(stream.writableEnded).toBe(false);
    expect(['error', 'drain', 'finish', 'close'].map((e) => stream.listenerCount(e))).toEqual(
      listeners,
    );
    stream.end();
  });

  test('close() rejects with an IoError when ending the stream fails', async () => {
    const stream = new Writable({
      write: (_c, _e, cb) => cb(),
      final: (cb) => cb(ioError('EIO', 'flush failed')),
    });
    const sink = new WritableSink(stream);
    await sink.write(bytes(2));
    const e = await sink.close().catch((err: unknown) => err);
    expect(e).toBeInstanceOf(IoError);
    expect(e).toMatchObject({ systemCode: 'EIO' });
  });

  test('close() rejects when the stream is destroyed before it finishes', async () => {
    const { stream } = slowWritable(16, 20);
    const sink = new WritableSink(stream);
    void sink.write(bytes(2)).catch(() => undefined);
    const closing = sink.close();
    stream.destroy();
    const e = await closing.catch((err: unknown) => err);
    expect(e).toBeInstanceOf(IoError);
    expect((e as Error).message).toBe('WritableSink: the stream was destroyed before it finished');
  });
});

/** Chunk `i` of the socket test: distinct 32-bit words (bytes() is too slow for MiBs). */
function pattern(size: number, i: number): Buffer {
  const words = new Uint32Array(size / 4);
  for (let w = 0; w < words.length; w++) words[w] = Math.imul(i + 1, 0x9e3779b1) ^ w;
  return Buffer.from(words.buffer);
}

describe('WritableSink over a loopback socket', () => {
  test('several MiB round trip with backpressure, reusing each buffer only after its promise', async () => {
    const CHUNK = 64 << 10;
    const COUNT = 128; // 8 MiB
    const received: Buffer[] = [];
    const server = net.createServer();
    const ended = new Promise<void>((resolve) => {
      server.on('connection', (socket) => {
        // Read nothing for a while, so the kernel's buffers fill up and
        // chunks queue in the client socket.
        socket.pause();
        setTimeout(() => socket.resume(), 200);
        socket.on('data', (d: Buffer) => received.push(d));
        socket.on('end', () => {
          socket.end();
          resolve();
        });
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as net.AddressInfo;
    const client = net.connect(port, '127.0.0.1');
    await once(client, 'connect');

    try {
      const sink = new WritableSink(client);
      // Four buffers in rotation, as a writer's slabs: each is refilled as
      // soon as the promise for its previous contents resolves, and only
      // then; the promises are the only backpressure in this loop. A promise
      // that settled while the socket still queued its chunk would let the
      // loop overwrite queued bytes, which the comparison below would catch.
      const slabs = Array.from({ length: 4 }, () => new Uint8Array(CHUNK));
      const inFlight: Array<Promise<void>> = slabs.map(() => Promise.resolve());
      let maxQueued = 0;
      let sawNeedsDrain = false;
      for (let i = 0; i < COUNT; i++) {
        const slot = i % slabs.length;
        await inFlight[slot];
        slabs[slot]!.set(pattern(CHUNK, i));
        inFlight[slot] = sink.write(slabs[slot]!);
        maxQueued = Math.max(maxQueued, client.writableLength);
        sawNeedsDrain ||= sink.needsDrain;
      }
      // The socket really queued chunks in user space (the kernel was full).
      expect(maxQueued).toBeGreaterThan(2 * CHUNK);
      expect(sawNeedsDrain).toBe(true);
      await sink.drain();
      expect(sink.needsDrain).toBe(false);
      await Promise.all(inFlight);
      await sink.close();
      await ended;
      const all = Buffer.concat(received);
      expect(all.length).toBe(CHUNK * COUNT);
      for (let i = 0; i < COUNT; i++) {
        expect(all.subarray(i * CHUNK, (i + 1) * CHUNK).equals(pattern(CHUNK, i))).toBe(true);
      }
    } finally {
      client.destroy();
      server.close();
    }
  });
});
