// Issue 10, defect 1: a call made from inside a callback the writer is
// running (serialize, a custom checksum, a JS validator, an observer, a sink)
// is refused with ReentrantCallError; it changes nothing, what was accepted
// before stays intact, and the outer call completes normally.
import { Writable } from 'node:stream';
import {
  ArenaBuilder,
  ChecksumDeframer,
  ChecksumFramer,
  MemorySink,
  ReentrantCallError,
  StreamWriter,
  TypedValidator,
  UnfinishedBuilderError,
  XxHash64,
  type Checksum,
  type Framer,
  type Sink,
} from '../lib/index';
import { bytes, readAll } from './helpers';

const Sum16: Checksum<number> = {
  name: 'sum16',
  width: 2,
  compute: (p) => p.reduce((a, b) => (a + b) & 0xffff, 0),
};

const P0 = bytes(40, 1); // accepted before the callback runs
const P1 = bytes(24, 2); // what the outer call writes, if it writes

/** The stream a clean writer gives for `payloads`. */
function clean(framer: Framer, payloads: Uint8Array[]): Buffer {
  const sink = new MemorySink();
  const w = new StreamWriter(sink, framer);
  for (const p of payloads) w.writePayload(p);
  w.close();
  return sink.toBuffer();
}

type Entry = 'write' | 'writeFinished' | 'writePayload' | 'flush' | 'sync' | 'close' | 'drain';
const ENTRIES: Entry[] = [
  'write',
  'writeFinished',
  'writePayload',
  'flush',
  'sync',
  'close',
  'drain',
];

/** Makes the inner call; returns what it threw (or the rejection of drain()). */
async function inner(w: StreamWriter, entry: Entry, sync: { error?: unknown }): Promise<unknown> {
  try {
    switch (entry) {
      case 'write':
        w.write('inner');
        break;
      case 'writeFinished': {
        const b = new ArenaBuilder();
        b.finish(b.createString('inner'));
        w.writeFinished(b);
        break;
      }
      case 'writePayload':
        w.writePayload(bytes(8, 9));
        break;
      case 'flush':
        w.flush();
        break;
      case 'sync':
        w.sync();
        break;
      case 'close':
        w.close();
        break;
      case 'drain':
        return await w.drain().then(
          () => undefined,
          (e: unknown) => e,
        );
    }
  } catch (e) {
    return e;
  }
  return sync.error;
}

/**
 * Each scenario builds a writer, accepts P0, then runs the outer call during
 * which the writer runs the callback `hook` (which makes the inner call once).
 * Returns what the outer call returned and the expected payloads.
 */
interface Scenario {
  framer: (hook: () => void) => Framer;
  sink: (hook: () => void, out: MemorySink) => Sink | Writable;
  outer: (w: StreamWriter) => unknown;
  expected: Uint8Array[];
  framerForClean: Framer;
}

const plainSink = (_hook: () => void, out: MemorySink): Sink => out;
const xx = () => new ChecksumFramer(XxHash64);

const SCENARIOS: Record<string, Scenario> = {
  serialize: {
    framer: xx,
    sink: plainSink,
    outer: (w) => w.write({ serialize: (b) => (hookRef.run(), b.finish(b.createString('outer'))) }),
    expected: [P0, stringRoot('outer')],
    framerForClean: xx(),
  },
  'custom checksum compute': {
    framer: (hook) => new ChecksumFramer({ ...Sum16, compute: (p) => (hook(), Sum16.compute(p)) }),
    sink: plainSink,
    outer: (w) => w.writePayload(P1),
    expected: [P0, P1],
    framerForClean: new ChecksumFramer(Sum16),
  },
  'JS validator': {
    framer: (hook) =>
      xx().withValidator(TypedValidator.fromFunction('hooked', () => (hook(), true))),
    sink: plainSink,
    outer: (w) => w.writePayload(P1),
    expected: [P0, P1],
    framerForClean: xx(),
  },
  observer: {
    framer: (hook) => xx().observe(() => hook()),
    sink: plainSink,
    outer: (w) => w.writePayload(P1),
    expected: [P0, P1],
    framerForClean: xx(),
  },
  'sink write': {
    framer: xx,
    sink: (hook, out) => ({ write: (c: Uint8Array) => (hook(), out.write(c)) }),
    outer: (w) => w.flush(),
    expected: [P0],
    framerForClean: xx(),
  },
  'sink flush': {
    framer: xx,
    sink: (hook, out) => ({ write: (c: Uint8Array) => out.write(c), flush: () => hook() }),
    outer: (w) => w.flush(),
    expected: [P0],
    framerForClean: xx(),
  },
  'sink sync': {
    framer: xx,
    sink: (hook, out) => ({ write: (c: Uint8Array) => out.write(c), sync: () => hook() }),
    outer: (w) => w.sync(),
    expected: [P0],
    framerForClean: xx(),
  },
  'sink close': {
    framer: xx,
    sink: (hook, out) => ({ write: (c: Uint8Array) => out.write(c), close: () => hook() }),
    outer: (w) => w.close(),
    expected: [P0],
    framerForClean: xx(),
  },
  "WritableSink stream's synchronous write": {
    framer: xx,
    sink: (hook, out) =>
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          hook();
          out.write(chunk);
          cb();
        },
      }),
    outer: (w) => w.flush(),
    expected: [P0],
    framerForClean: xx(),
  },
};

// The serialize scenario's hook is reached through this (the item is made per run).
const hookRef = { run: (): void => undefined };

function stringRoot(s: string): Uint8Array {
  const sink = new MemorySink();
  const w = new StreamWriter(sink, new ChecksumFramer(XxHash64));
  w.write(s);
  w.close();
  return readAll(sink.toBuffer(), new ChecksumDeframer(XxHash64)).payloads[0]!;
}

describe.each(Object.keys(SCENARIOS))('re-entrancy from inside %s', (name) => {
  test.each(ENTRIES)(
    '%s() is refused with ReentrantCallError; the stream stays exact',
    async (entry) => {
      const sc = SCENARIOS[name]!;
      const out = new MemorySink();
      let armed = false;
      let pending: Promise<unknown> | null = null;
      const sync: { error?: unknown } = {};
      let w!: StreamWriter;
      const hook = (): void => {
        if (!armed) return;
        armed = false;
        pending = inner(w, entry, sync);
      };
      hookRef.run = hook;
      w = new StreamWriter(sc.sink(hook, out), sc.framer(hook));
      expect(w.writePayload(P0)).toBe(true);
      armed = true;
      const result = sc.outer(w);
      expect(armed).toBe(false); // the callback ran
      const err = await pending!;
      expect(err).toBeInstanceOf(ReentrantCallError);
      expect((err as ReentrantCallError).code).toBe('ERR_FLATSTREAM_REENTRANT_CALL');
      if (typeof result === 'boolean') expect(result).toBe(true);
      expect(w.closed).toBe(name === 'sink close');
      w.close();
      await w.finished();
      expect(w.stats().frames).toBe(sc.expected.length);
      const deframer =
        sc.framerForClean.checksum === Sum16
          ? new ChecksumDeframer(Sum16)
          : new ChecksumDeframer(XxHash64);
      expect(out.toBuffer()).toEqual(clean(sc.framerForClean, sc.expected));
      expect(readAll(out.toBuffer(), deframer).payloads).toEqual(
        sc.expected.map((p) => Buffer.from(p)),
      );
    },
  );
});

test('a callback that lets ReentrantCallError escape fails only the outer call: nothing of it is staged, the writer goes on', () => {
  const sink = new MemorySink();
  const w = new StreamWriter(sink, new ChecksumFramer(XxHash64));
  w.writePayload(P0);
  expect(() => w.write({ serialize: () => void w.writePayload(P1) })).toThrow(ReentrantCallError);
  expect(w.writePayload(P1)).toBe(true);
  w.close();
  expect(sink.toBuffer()).toEqual(clean(new ChecksumFramer(XxHash64), [P0, P1]));
});

test('reading needsDrain inside a callback does not lift the guard', () => {
  const stream = new Writable({ write: (_c, _e, cb) => cb() });
  const w = new StreamWriter(stream, new ChecksumFramer(XxHash64));
  let inner: unknown;
  w.write({
    serialize: (b) => {
      expect(w.needsDrain).toBe(false);
      try {
        w.writePayload(P1);
      } catch (e) {
        inner = e;
      }
      b.finish(b.createString('outer'));
    },
  });
  expect(inner).toBeInstanceOf(ReentrantCallError);
  expect(w.stats().frames).toBe(1);
});

test('a serialize getter that writes: its write completes first, the item is built from a clean builder', () => {
  const sink = new MemorySink();
  const w = new StreamWriter(sink, new ChecksumFramer(XxHash64));
  let reads = 0;
  const item = {
    get serialize() {
      reads++;
      w.write('from the getter');
      return (b: import('flatbuffers').Builder) => {
        // forgets finish(): must not pass on the getter's finished message
        b.createString('unfinished');
      };
    },
  };
  expect(() => w.write(item)).toThrow(UnfinishedBuilderError);
  expect(reads).toBe(1);
  w.close();
  expect(readAll(sink.toBuffer(), new ChecksumDeframer(XxHash64)).payloads).toEqual([
    Buffer.from(stringRoot('from the getter')),
  ]);
});
