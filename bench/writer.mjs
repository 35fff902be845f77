// StreamWriter end to end: messages built with flatc-generated code and
// written framed with XXH3, against what users write today (the stock
// flatbuffers Builder plus hand-written framing and @node-rs/xxhash) and
// against the formats they use instead (msgpackr, protobufjs, NDJSON).
// One workload per process; every row of a workload alternates with the others.
//   node bench/writer.mjs [--quick] [--workload telemetry|rich] [--only A,B,...]
// (without --workload it runs each workload in a process of its own; it
// re-runs itself with the V8 flags it needs, see NODE_FLAGS)
import { spawnSync } from 'node:child_process';
import v8 from 'node:v8';
import { fileURLToPath } from 'node:url';
import { banner, compare, consume, fmt, lib, quick, require, table, verdict } from './harness.mjs';
import { loadGenerated } from './generated.mjs';

const self = fileURLToPath(import.meta.url);
const args = process.argv.slice(2);
const wi = args.indexOf('--workload');
const workload = wi >= 0 ? args[wi + 1] : null;

// Each workload runs in a process of its own, with --expose-gc (gc() before
// each heap/GC run; it does not change how V8 collects) and the young
// generation pinned at V8's default maximum (16 MiB semi-spaces on 64-bit):
// V8 grows it with the survivors it sees, so otherwise a row's GC count would
// depend on the rows that ran before it. Bytes allocated per event do not
// depend on it; a process whose young generation never grew collects up to
// 16x more often for the same bytes.
const NODE_FLAGS = ['--expose-gc', '--min-semi-space-size=16', '--max-semi-space-size=16'];
const spawnSelf = (extra) =>
  spawnSync(process.execPath, [...NODE_FLAGS, self, ...args, ...extra], { stdio: 'inherit' })
    .status ?? 1;
if (!workload) {
  loadGenerated(); // compile once, before the children
  const failed = ['telemetry', 'rich'].filter((w) => spawnSelf(['--workload', w]) !== 0);
  process.exit(failed.length ? 1 : 0);
}
if (!NODE_FLAGS.every((f) => process.execArgv.includes(f))) process.exit(spawnSelf([]));
if (workload !== 'telemetry' && workload !== 'rich') {
  console.error(`bench/writer: unknown workload ${workload} (telemetry or rich)`);
  process.exit(2);
}

const { StreamWriter, MemorySink, ChecksumFramer, XxHash64, ArenaBuilder, Arena, compileSchema } =
  lib;
const { xxh3 } = require('@node-rs/xxhash');
const { Packr, Unpackr, REUSE_BUFFER_MODE, RESET_BUFFER_MODE } = require('msgpackr');
const protobuf = require('protobufjs');
const Long = protobuf.util.Long;
const gen = loadGenerated();
// Schema-compiled codecs (lib/codec/) of the same schema, from flatc's .bfbs.
const codecs = compileSchema(
  require('node:fs').readFileSync(new URL('../test/generated/events.bfbs', import.meta.url)),
).tables;
const StockBuilder = gen.stockFlatbuffers.Builder;

const EVENTS = quick ? 200_000 : 1_000_000; // per heap/GC run
const VERIFY = 5_000; // events whose output is cross-checked before timing
const SLAB = 64 * 1024; // StreamWriter's default slab; the peers' staging buffer
const T0 = 1_700_000_000_000_000_000n; // ns since the epoch, beyond 2^53
const PACK_MODE = REUSE_BUFFER_MODE | RESET_BUFFER_MODE;

// ---- private copies of each case's code ------------------------------------
// Every case must run its own code, so that no call site sees another case's
// types (framing.mjs writes one loop per case for the same reason). Here the
// rows and helpers below are written once, as plain user code whose free
// names (builder, build, id, ...) are bound per case: bind() compiles a fresh
// copy of the function's source with those names as constants in scope. Only
// the libraries (generated code, flatbuffers, flatstream, the peers) are
// shared, as in a real program.
function bind(fn, scope) {
  const names = Object.keys(scope);
  return new Function(...names, `'use strict'; return (${fn.toString()});`)(
    ...names.map((k) => scope[k]),
  );
}

// ---- what a user writes: per-event values -------------------------------------
// "natural": the BigInts are made per event, as user code does (BigInt(x), a
// counter added to an epoch); "pre-made": they come from a table made up
// front, so what remains is the library's own allocation.
const IDS = Array.from({ length: 64 }, (_, k) => BigInt(1000 + k));
const TSS = Array.from({ length: 1024 }, (_, k) => T0 + BigInt(k));
const values = {
  natural: { id: (i) => BigInt(1000 + (i & 63)), ts: (i) => T0 + BigInt(i) },
  premade: { id: (i) => IDS[i & 63], ts: (i) => TSS[i & 1023] },
};
// 16-character labels (interned strings, as a user's device names are) and
// 8 readings written into the user's reused array per event, in every row.
const LABELS = Array.from({ length: 64 }, (_, k) => `sensor-${String(k).padStart(4, '0')}-abcd`);
const fill = (R, i) => {
  for (let k = 0; k < 8; k++) R[k] = i * 0.001 + k * 1.25;
};
const label = (i) => LABELS[i & 63];

// ---- building one message with flatc-generated code -----------------------
function buildTelemetry(b, i) {
  b.finish(Telemetry.createTelemetry(b, id(i), ts(i), i * 0.25));
}
// The rich event restricted to what the issue measures: u64 device id, u64
// timestamp, a 16-char label and 8 f64 readings (as test/events.ts builds it).
function buildRich(b, i) {
  fill(R, i);
  const l = b.createString(label(i));
  const r = RichEvent.createReadingsVector(b, R);
  RichEvent.startRichEvent(b);
  RichEvent.addDeviceId(b, id(i));
  RichEvent.addTimestamp(b, ts(i));
  RichEvent.addLabel(b, l);
  RichEvent.addReadings(b, r);
  b.finish(RichEvent.endRichEvent(b));
}

// ---- the same data for the other formats -------------------------------------
// Each format gets u64s the way it takes them: msgpackr BigInts, protobufjs
// Longs (it ignores BigInts), JSON decimal strings (JSON has no BigInt, and
// numbers lose precision past 2^53). "natural" converts and makes an object
// per event; "pre-made" converts up front and refills one object (made by
// the case's own copy of the code, so each format's object has its own shape).
const u64 = {
  msgpackr: (x) => x,
  protobufjs: (x) => Long.fromBigInt(x, true),
  json: (x) => x.toString(),
};
const telemetryObj = {
  natural: (i) => ({ deviceId: u(id(i)), timestamp: u(ts(i)), value: i * 0.25 }),
  premade: () => {
    const o = { deviceId: UIDS[0], timestamp: UTSS[0], value: 0.5 };
    return (i) => {
      o.deviceId = UIDS[i & 63];
      o.timestamp = UTSS[i & 1023];
      o.value = i * 0.25;
      return o;
    };
  },
};
const richObj = {
  natural: (i) => {
    fill(R, i);
    return { deviceId: u(id(i)), timestamp: u(ts(i)), label: label(i), readings: R };
  },
  premade: () => {
    const o = { deviceId: UIDS[0], timestamp: UTSS[0], label: label(0), readings: R };
    return (i) => {
      fill(R, i);
      o.deviceId = UIDS[i & 63];
      o.timestamp = UTSS[i & 1023];
      o.label = label(i);
      return o;
    };
  },
};
const PROTO = `syntax = "proto3";
message Telemetry { uint64 device_id = 1; uint64 timestamp = 2; double value = 3; }
message RichEvent { uint64 device_id = 1; uint64 timestamp = 2; string label = 3; repeated double readings = 4; }`;
const protoRoot = protobuf.parse(PROTO).root;

// ---- the rows ----------------------------------------------------------------
// A, B: build only, one reused builder, clear() per message.
function rowBuild(n) {
  const b = builder;
  for (let i = 0; i < n; i++) {
    b.clear();
    build(b, i);
  }
  return b.offset();
}
// C, C': expert mode, the user's reused builder handed to writeFinished.
function rowWriteFinished(n) {
  const sink = makeSink();
  const w = new StreamWriter(sink, framer);
  const b = builder;
  for (let i = 0; i < n; i++) {
    b.clear();
    build(b, i);
    w.writeFinished(b);
  }
  w.close();
  return sink;
}
// D: simple mode. "natural" passes a new { serialize } per event; "pre-made" one reused item.
function rowWrite(n) {
  const sink = makeSink();
  const w = new StreamWriter(sink, framer);
  for (let i = 0; i < n; i++) w.write(item(i));
  w.close();
  return sink;
}
const items = {
  natural: (i) => ({ serialize: (b) => build(b, i) }),
  premade: () => {
    const it = {
      i: 0,
      serialize(b) {
        build(b, this.i);
      },
    };
    return (i) => {
      it.i = i;
      return it;
    };
  },
};
// E: the stock builder and hand-written framing, as in bench/framing.mjs: a
// reused 64 KiB Buffer copied into a list of chunks when full (MemorySink's
// contract), length, then XXH3 from @node-rs/xxhash as 8 bytes LE.
function rowHand(n) {
  const chunks = [];
  const out = staging;
  const b = builder;
  let pos = 0;
  for (let i = 0; i < n; i++) {
    b.clear();
    build(b, i);
    const p = b.asUint8Array();
    const size = 12 + p.length;
    if (pos + size > SLAB) {
      chunks.push(Buffer.from(out.subarray(0, pos)));
      pos = 0;
    }
    out.writeUInt32LE(p.length, pos);
    out.writeBigUInt64LE(xxh3.xxh64(p), pos + 4);
    out.set(p, pos + 12);
    pos += size;
  }
  if (pos > 0) chunks.push(Buffer.from(out.subarray(0, pos)));
  return chunks;
}
// msgpackr with record structures in sequential mode (its fastest stream
// form: the structure goes out once, with the first message). One Packr per
// case, kept for the process as a long-running producer keeps it: a Packr
// per run makes fresh closures that the optimised code of pack() does not
// expect (1.5-4.5x slower in this process). Packed into its reused buffer
// (REUSE_BUFFER_MODE | RESET_BUFFER_MODE: no view per message), then copied
// into the staging buffer. MessagePack is self-delimiting: no length prefix.
function rowMsgpackr(n) {
  const chunks = [];
  const out = staging;
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const t = packr.pack(obj(i), PACK_MODE);
    const len = t.end - t.start;
    if (pos + len > SLAB) {
      chunks.push(Buffer.from(out.subarray(0, pos)));
      pos = 0;
    }
    t.copy(out, pos, t.start, t.end);
    pos += len;
  }
  if (pos > 0) chunks.push(Buffer.from(out.subarray(0, pos)));
  return chunks;
}
// protobufjs, varint-length-delimited into one reused Writer (protobufjs 8
// writes into a growing buffer); at ~64 KiB finish() copies the chunk out and
// reset() rewinds the writer.
function rowProtobuf(n) {
  const chunks = [];
  const w = protobuf.Writer.create();
  for (let i = 0; i < n; i++) {
    Type.encodeDelimited(obj(i), w);
    if (w.len >= SLAB - 256) {
      chunks.push(w.finish());
      w.reset();
    }
  }
  if (w.len > 0) chunks.push(w.finish());
  return chunks;
}
// W: the schema-compiled codec (lib/codec/) through writeWith: the writer
// reserves its slab's free space, the codec encodes the user's object there,
// the frame is committed (the README's fastest path).
function rowCodecWith(n) {
  const sink = makeSink();
  const w = new StreamWriter(sink, framer);
  for (let i = 0; i < n; i++) w.writeWith(codec, obj(i));
  w.close();
  return done(sink, w);
}
// Gn: the former path, kept to show what writeWith saves: encode into a
// reused buffer, then writePayload copies it (one subarray per event).
function rowCodec(n) {
  const sink = makeSink();
  const w = new StreamWriter(sink, framer);
  const buf = scratch;
  const view = scratchView;
  for (let i = 0; i < n; i++) {
    const end = codec.encodeInto(obj(i), buf, view, 0, buf.length);
    w.writePayload(buf.subarray(0, end));
  }
  w.close();
  return sink;
}
// G0: the codec alone, encoding into one reused buffer (no framing).
function rowCodecOnly(n) {
  const buf = scratch;
  const view = scratchView;
  let total = 0;
  for (let i = 0; i < n; i++) total += codec.encodeInto(obj(i), buf, view, 0, buf.length);
  return total;
}
// Newline-delimited JSON written as UTF-8 into the staging buffer.
function rowJson(n) {
  const chunks = [];
  const out = staging;
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const line = JSON.stringify(obj(i)) + '\n';
    if (pos + 3 * line.length > SLAB) {
      chunks.push(Buffer.from(out.subarray(0, pos)));
      pos = 0;
    }
    pos += out.write(line, pos);
  }
  if (pos > 0) chunks.push(Buffer.from(out.subarray(0, pos)));
  return chunks;
}

// ---- cases -----------------------------------------------------------------
const memorySink = () => new MemorySink();
const noopSink = () => ({ write() {} });
// End to end, the agent's path: a CaptureSink (policy 'block', 8 x 1 MiB
// slabs, staging on /dev/shm); a row ends when its thread has written
// everything to the stream file (closeSync), which is then removed.
const { CaptureSink } = lib;
const nodeFs = require('node:fs');
const capDir = nodeFs.mkdtempSync(`${require('node:os').tmpdir()}/bench-writer-`);
process.on('exit', () => nodeFs.rmSync(capDir, { recursive: true, force: true }));
let capRuns = 0;
const captureSink = () => {
  const k = capRuns++;
  return new CaptureSink(`${capDir}/w${k}.fst`, {
    stagingPath: `/dev/shm/flatstream-bench-writer-${process.pid}-${k}.staging`,
    policy: 'block',
    slabSize: 1 << 20,
    slabs: 8,
  });
};
// What a row returns: the sink, or for a CaptureSink the stream file's bytes
// (read back by verify(), removed by the timed runs).
const done = (sink, w) => {
  if (!(sink instanceof CaptureSink)) return sink;
  sink.closeSync();
  if (w.stats().frames === VERIFY) return nodeFs.readFileSync(sink.path);
  nodeFs.rmSync(sink.path, { force: true });
  return w.stats().bytes;
};
const output = (r) =>
  typeof r === 'number'
    ? null
    : Buffer.isBuffer(r)
      ? r
      : Array.isArray(r)
        ? Buffer.concat(r)
        : r.toBuffer();
const outLength = (r) =>
  typeof r === 'number' ? r : Array.isArray(r) ? r.reduce((s, c) => s + c.length, 0) : r.length;

function cases(variant) {
  const rich = workload === 'rich';
  const v = values[variant];
  const common = { T0, IDS, TSS };
  const bindBuild = (G) => {
    const R = new Array(8).fill(0.5);
    const scope = { ...common, label: bind(label, { LABELS }), fill: bind(fill, {}), R };
    scope.id = bind(v.id, common);
    scope.ts = bind(v.ts, common);
    return rich
      ? bind(buildRich, { ...scope, RichEvent: G.RichEvent })
      : bind(buildTelemetry, { ...scope, Telemetry: G.Telemetry });
  };
  const arena = (extra) => ({ build: bindBuild(gen.arena), ...extra });
  const stock = (extra) => ({ build: bindBuild(gen.stock), ...extra });
  const framer = new ChecksumFramer(XxHash64);
  const row = (key, name, fn, scope) => ({
    key,
    name,
    variant,
    row: bind(fn, { SLAB, xxh3, StreamWriter, framer, staging: Buffer.alloc(SLAB), ...scope }),
  });
  const item = (s) => {
    const f = bind(items[variant], { build: s.build });
    return variant === 'premade' ? f() : f;
  };
  const peerObj = (codec) => {
    const u = u64[codec];
    const R = new Array(8).fill(0.5);
    const scope = {
      u,
      label: bind(label, { LABELS }),
      fill: bind(fill, {}),
      R,
      id: bind(v.id, common),
      ts: bind(v.ts, common),
      UIDS: IDS.map(u),
      UTSS: TSS.map(u),
    };
    const f = bind((rich ? richObj : telemetryObj)[variant], scope);
    return variant === 'premade' ? f() : f;
  };
  return [
    row('A', 'A: stock Builder, build only', rowBuild, stock({ builder: new StockBuilder(1024) })),
    row(
      'B',
      'B: ArenaBuilder, build only',
      rowBuild,
      arena({ builder: new ArenaBuilder(new Arena()) }),
    ),
    row(
      'C',
      'C: writeFinished(ArenaBuilder) + XXH3 → MemorySink',
      rowWriteFinished,
      arena({ builder: new ArenaBuilder(new Arena()), makeSink: memorySink }),
    ),
    row(
      'Cn',
      'C: writeFinished(ArenaBuilder) + XXH3 → no-op sink',
      rowWriteFinished,
      arena({ builder: new ArenaBuilder(new Arena()), makeSink: noopSink }),
    ),
    row(
      "C'",
      "C': writeFinished(stock Builder) + XXH3 → MemorySink",
      rowWriteFinished,
      stock({ builder: new StockBuilder(1024), makeSink: memorySink }),
    ),
    row('D', 'D: write({ serialize }) + XXH3 → MemorySink', rowWrite, {
      item: item(arena()),
      makeSink: memorySink,
    }),
    row('Dn', 'D: write({ serialize }) + XXH3 → no-op sink', rowWrite, {
      item: item(arena()),
      makeSink: noopSink,
    }),
    row(
      'E',
      'E: stock Builder + hand-written framing + @node-rs/xxhash',
      rowHand,
      stock({
        builder: new StockBuilder(1024),
      }),
    ),
    row('msgpackr', 'msgpackr (records, sequential)', rowMsgpackr, {
      packr: new Packr({ sequential: true }),
      PACK_MODE,
      obj: peerObj('msgpackr'),
    }),
    row('protobufjs', 'protobufjs encodeDelimited', rowProtobuf, {
      protobuf,
      Type: protoRoot.lookupType(rich ? 'RichEvent' : 'Telemetry'),
      obj: peerObj('protobufjs'),
    }),
    row('json', 'NDJSON (JSON.stringify + "\\n")', rowJson, { obj: peerObj('json') }),
    ...[
      ['G0', 'G0: codec.encodeInto only (reused buffer)', rowCodecOnly, noopSink],
      ['W', 'W: writeWith(codec) + XXH3 → MemorySink', rowCodecWith, memorySink],
      ['Wn', 'W: writeWith(codec) + XXH3 → no-op sink', rowCodecWith, noopSink],
      ['Gn', 'Gn: codec.encodeInto + writePayload + XXH3 → no-op sink', rowCodec, noopSink],
    ].map(([key, name, fn, makeSink]) => {
      const scratch = new Uint8Array(SLAB);
      return row(key, name, fn, {
        codec: codecs[rich ? 'events.RichEvent' : 'events.Telemetry'],
        // the same objects as msgpackr's: BigInt u64s, lowerCamel keys
        obj: peerObj('msgpackr'),
        scratch,
        scratchView: new DataView(scratch.buffer),
        makeSink,
        done,
      });
    }),
    ...(rich
      ? []
      : [
          ['Wnum', 'W: writeWith(codec), number-valued u64s → no-op sink', noopSink],
          ['Wcap', 'W: writeWith(codec), number-valued u64s → CaptureSink', captureSink],
        ].map(([key, name, makeSink]) => {
          // number-valued u64s (a µs timestamp fits 2^53): no BigInt anywhere;
          // made per event: a fresh object; pre-made: one reused object
          const o = { deviceId: 0, timestamp: 0, value: 0 };
          const obj =
            variant === 'natural'
              ? bind(
                  (i) => ({
                    deviceId: 1000 + (i & 63),
                    timestamp: 1_700_000_000_000_000 + i,
                    value: i * 0.25,
                  }),
                  {},
                )
              : bind(
                  (i) => {
                    o.deviceId = 1000 + (i & 63);
                    o.timestamp = 1_700_000_000_000_000 + i;
                    o.value = i * 0.25;
                    return o;
                  },
                  { o },
                );
          const r = row(key, name, rowCodecWith, {
            codec: codecs['events.Telemetry'],
            obj,
            makeSink,
            done,
          });
          // a CaptureSink per timed run: a fixed, long run amortises its setup
          return key === 'Wcap' ? { ...r, n: quick ? 500_000 : 1_000_000 } : r;
        })),
  ].map((c) => ({ ...c, run: (n) => outLength(c.row(n)) }));
}

// ---- checks before timing -----------------------------------------------------
function verify(list) {
  const by = Object.fromEntries(list.map((c) => [c.key, c]));
  // Every FlatBuffers path must produce the same stream, or the comparison is meaningless.
  const ref = output(by.E.row(VERIFY));
  for (const k of ['C', "C'", 'D']) {
    if (!output(by[k].row(VERIFY)).equals(ref))
      throw new Error(`${list[0].variant}: ${by[k].name} differs from the hand-written stream`);
  }
  // The other formats must decode to the same events.
  const rich = workload === 'rich';
  const mp = new Unpackr({ sequential: true }).unpackMultiple(output(by.msgpackr.row(VERIFY)));
  const pbType = protoRoot.lookupType(rich ? 'RichEvent' : 'Telemetry');
  const pbBuf = output(by.protobufjs.row(VERIFY));
  const reader = protobuf.Reader.create(pbBuf);
  const pb = [];
  while (reader.pos < reader.len) pb.push(pbType.decodeDelimited(reader));
  const js = output(by.json.row(VERIFY))
    .toString()
    .split('\n')
    .slice(0, -1)
    .map((l) => JSON.parse(l));
  const fb = [];
  for (let p = 0; p < ref.length;) {
    const len = ref.readUInt32LE(p);
    fb.push(ref.subarray(p + 12, p + 12 + len));
    p += 12 + len;
  }
  const frames = (buf) => {
    const out = [];
    for (let p = 0; p < buf.length;) {
      const len = buf.readUInt32LE(p);
      out.push(buf.subarray(p + 12, p + 12 + len));
      p += 12 + len;
    }
    return out;
  };
  const codecFrames = frames(output(by.W.row(VERIFY)));
  // The CaptureSink's stream file holds every event written (number u64s).
  if (!rich) {
    const cap = frames(output(by.Wcap.row(VERIFY)));
    const { ByteBuffer: BB } = gen.stockFlatbuffers;
    const bad = cap.findIndex((f, i) => {
      const e = gen.stock.Telemetry.getRootAsTelemetry(new BB(f));
      return (
        e.deviceId() !== BigInt(1000 + (i & 63)) ||
        e.timestamp() !== BigInt(1_700_000_000_000_000 + i) ||
        e.value() !== i * 0.25
      );
    });
    if (cap.length !== VERIFY || bad >= 0)
      throw new Error(`${list[0].variant}: the CaptureSink's stream differs at event ${bad}`);
  }
  const pick = (x) => (rich ? { label: x.label, readings: x.readings } : { value: x.value });
  const G = gen.stock;
  const { ByteBuffer } = gen.stockFlatbuffers;
  for (const [name, got, norm] of [
    ['msgpackr', mp, (x) => x],
    // the codec's frames, read back by flatc's generated code
    [
      'codec',
      codecFrames.map((f) => {
        const bb = new ByteBuffer(f);
        const e = rich ? G.RichEvent.getRootAsRichEvent(bb) : G.Telemetry.getRootAsTelemetry(bb);
        return rich
          ? {
              deviceId: e.deviceId(),
              timestamp: e.timestamp(),
              label: e.label(),
              readings: Array.from({ length: e.readingsLength() }, (_, k) => e.readings(k)),
            }
          : { deviceId: e.deviceId(), timestamp: e.timestamp(), value: e.value() };
      }),
      (x) => x,
    ],
    // proto3 leaves defaults (0, '') unset on the wire: read them through the message.
    [
      'protobufjs',
      pb,
      (x) => ({
        ...pick(x),
        deviceId: BigInt(x.deviceId.toString()),
        timestamp: BigInt(x.timestamp.toString()),
      }),
    ],
    [
      'json',
      js,
      (x) => ({ ...pick(x), deviceId: BigInt(x.deviceId), timestamp: BigInt(x.timestamp) }),
    ],
  ]) {
    if (got.length !== VERIFY || fb.length !== VERIFY)
      throw new Error(`${name}: ${got.length} events decoded`);
    for (const i of [0, 1, 63, 64, 1023, 1024, VERIFY - 1]) {
      const bb = new ByteBuffer(fb[i]);
      const x = norm(got[i]);
      const e = rich ? G.RichEvent.getRootAsRichEvent(bb) : G.Telemetry.getRootAsTelemetry(bb);
      const same =
        x.deviceId === e.deviceId() &&
        x.timestamp === e.timestamp() &&
        (rich
          ? x.label === e.label() &&
            x.readings.length === 8 &&
            x.readings.every((r, k) => r === e.readings(k))
          : x.value === e.value());
      if (!same)
        throw new Error(`${list[0].variant}: ${name} event ${i} differs from the FlatBuffers one`);
    }
  }
  const sizes = {};
  for (const c of list) {
    const r = c.row(VERIFY);
    sizes[c.key] = typeof r === 'number' ? null : outLength(r) / VERIFY;
  }
  sizes.Cn = sizes.Dn = sizes.C;
  sizes.Wn = sizes.Gn = sizes.W;
  if (!rich) sizes.Wnum = sizes.W;
  return sizes;
}

// ---- heap and GC ---------------------------------------------------------------
// One full run of EVENTS from a collected heap, under v8.GCProfiler. JS heap
// allocated = growth of used heap between collections plus the growth after
// the last one; exact for scavenges, and nothing here sweeps concurrently
// during a run without a major GC (a major GC is reported in its column).
function heapAndGc(c) {
  globalThis.gc();
  const prof = new v8.GCProfiler();
  const used0 = v8.getHeapStatistics().used_heap_size;
  prof.start();
  consume(c.run(EVENTS));
  const used1 = v8.getHeapStatistics().used_heap_size;
  const { statistics } = prof.stop();
  let allocated = 0;
  let prev = used0;
  let minor = 0;
  let major = 0;
  let ms = 0;
  for (const s of statistics) {
    if (s.gcType === 'Scavenge' || s.gcType === 'MinorMarkSweep') minor++;
    else if (s.gcType === 'MarkSweepCompact') major++;
    else continue; // incremental-marking steps and weak callbacks are parts of a major GC
    allocated += s.beforeGC.heapStatistics.usedHeapSize - prev;
    prev = s.afterGC.heapStatistics.usedHeapSize;
    ms += s.cost / 1000;
  }
  allocated += used1 - prev;
  return { bytesPerEvent: allocated / EVENTS, minor, major, ms };
}

// ---- report ------------------------------------------------------------------
const perRun = quick ? '200k' : '1M';
function printTable(title, res, sizes) {
  console.log(`\n### ${title}`);
  const E = res.find((r) => r.key === 'E');
  table(
    [
      'row',
      'events/s',
      'ns/event',
      'spread',
      'vs E (speed)',
      'out B/event',
      'JS heap B/event',
      `GCs/${perRun} (major)`,
      `GC ms/${perRun}`,
    ],
    res.map((r) => [
      r.name,
      fmt.rate(1e9 / r.nsPerOp),
      fmt.ns(r.nsPerOp),
      fmt.spread(r),
      r.key === 'E' || !E ? '' : fmt.ratio(E.nsPerOp / r.nsPerOp),
      sizes[r.key] == null ? '' : sizes[r.key].toFixed(1),
      r.heap.bytesPerEvent.toFixed(1),
      `${r.heap.minor + r.heap.major} (${r.heap.major})`,
      r.heap.ms.toFixed(1),
    ]),
    'lrrrrrrrr',
  );
}

banner(`StreamWriter: ${workload} event`);
console.log(
  rich()
    ? 'event: u64 device id, u64 timestamp, 16-char label, 8 f64 readings (RichEvent, flatc-generated TS)'
    : 'event: u64 device id, u64 timestamp, f64 value (Telemetry, flatc-generated TS)',
);
function rich() {
  return workload === 'rich';
}

// Diagnostics: --only A,B,Cn runs just those rows and skips the checks (which
// run every row), e.g. to see a row without the other rows' types in the
// shared library code. No targets then.
const oi = args.indexOf('--only');
const only = oi >= 0 ? args[oi + 1].split(',') : null;
let all = [...cases('natural'), ...cases('premade')];
const sizes = only
  ? { natural: {}, premade: {} }
  : {
      natural: verify(all.filter((c) => c.variant === 'natural')),
      premade: verify(all.filter((c) => c.variant === 'premade')),
    };
if (only) all = all.filter((c) => only.includes(c.key));
const res = compare(all); // every row of both variants alternates in one table run
for (const r of res) r.heap = heapAndGc(r);

const titles = {
  natural: 'values made per event (BigInt(i), object literals: what user code does)',
  premade:
    'pre-made values (BigInts/Longs/strings from a table, reused objects: the libraries alone)',
};
for (const variant of ['natural', 'premade']) {
  printTable(
    `${workload}, ${titles[variant]}`,
    res.filter((r) => r.variant === variant),
    sizes[variant],
  );
}
console.log(
  `\n(heap and GCs: one run of ${EVENTS.toLocaleString('en-US')} events from a collected heap; ` +
    'out B/event: bytes of output per event, frame headers included)',
);

if (only) process.exit(0);
console.log('\n### Targets (reported, not asserted)');
const rows = [];
for (const variant of ['natural', 'premade']) {
  const g = (k) => res.find((r) => r.variant === variant && r.key === k);
  const tag = variant === 'natural' ? 'natural' : 'pre-made';
  const ab = g('A').nsPerOp / g('B').nsPerOp;
  const cb = g('B').nsPerOp / g('C').nsPerOp;
  const ca = g('A').nsPerOp / g("C'").nsPerOp;
  const de = g('E').nsPerOp / g('D').nsPerOp;
  rows.push(
    [
      `B vs A: ArenaBuilder vs stock Builder (${tag})`,
      '>= 1.15x',
      fmt.ratio(ab),
      verdict(ab >= 1.15),
    ],
    [
      `C vs B: writeFinished + XXH3 vs build only (${tag})`,
      '>= 0.85x',
      fmt.ratio(cb),
      verdict(cb >= 0.85),
    ],
    [`C' vs A: the same with a stock Builder (${tag})`, '(reported)', fmt.ratio(ca), ''],
    [`D vs E: simple mode vs hand-written (${tag})`, '>= 2x', fmt.ratio(de), verdict(de >= 2)],
  );
}
// Issue 12's targets for the schema-compiled codec, end to end through
// writeWith (Wn: the peers' objects, BigInt u64s; Wnum: number u64s); G0,
// the codec alone, is reported beside them.
{
  const g = (variant, k) => res.find((r) => r.variant === variant && r.key === k);
  const rate = (variant, k) => 1e9 / g(variant, k).nsPerOp;
  const vsPb = (variant, k) => g(variant, 'protobufjs').nsPerOp / g(variant, k).nsPerOp;
  const tel = workload === 'telemetry';
  const target = tel ? 15e6 : 6e6;
  for (const k of tel ? ['Wn', 'Wnum', 'G0'] : ['Wn', 'G0']) {
    const label = {
      Wn: 'writeWith(codec), no-op sink',
      Wnum: 'writeWith(codec), number u64s, no-op sink',
      G0: 'codec alone',
    }[k];
    rows.push(
      [
        `${workload}, ${label}, pre-made`,
        k === 'G0' ? '(reported)' : `>= ${target / 1e6} M events/s`,
        `${fmt.rate(rate('premade', k))} events/s`,
        k === 'G0' ? '' : verdict(rate('premade', k) >= target),
      ],
      [
        `  vs protobufjs encodeDelimited, pre-made`,
        k === 'G0' ? '(reported)' : '>= 1.5x',
        fmt.ratio(vsPb('premade', k)),
        k === 'G0' ? '' : verdict(vsPb('premade', k) >= 1.5),
      ],
    );
    if (tel)
      rows.push([
        `  vs protobufjs encodeDelimited, values made per event`,
        k === 'G0' ? '(reported)' : '>= 3x',
        fmt.ratio(vsPb('natural', k)),
        k === 'G0' ? '' : verdict(vsPb('natural', k) >= 3),
      ]);
  }
  const ws = g('premade', 'Gn').nsPerOp / g('premade', 'Wn').nsPerOp;
  rows.push([
    `  writeWith vs encodeInto + writePayload (Wn vs Gn), pre-made`,
    '(reported)',
    fmt.ratio(ws),
    '',
  ]);
  if (tel) {
    const h = g('premade', 'Wnum').heap;
    rows.push(
      [
        `GCs writing ${perRun} events, number-valued u64s, writeWith(codec)`,
        '0 GCs',
        `${h.minor + h.major}`,
        verdict(h.minor + h.major === 0),
      ],
      [
        'telemetry, writeWith(codec) → CaptureSink (to the file), pre-made',
        '>= 12 M events/s',
        `${fmt.rate(rate('premade', 'Wcap'))} events/s`,
        verdict(rate('premade', 'Wcap') >= 12e6),
      ],
    );
  }
}
const dn = res.find((r) => r.variant === 'premade' && r.key === 'Dn').heap;
const cn = res.find((r) => r.variant === 'premade' && r.key === 'Cn').heap;
rows.push(
  [
    `no GC writing ${perRun} events, pre-made values, no-op sink: D / C`,
    '0 GCs',
    `${dn.minor + dn.major} / ${cn.minor + cn.major}`,
    verdict(dn.minor + dn.major + cn.minor + cn.major === 0),
  ],
  ['F: writePayload, 48 B, XXH3', '>= 30 M frames/s', 'see framing.mjs, Write 48 B', ''],
);
table(['what', 'target', 'measured', ''], rows, 'llll');
