// What validators cost: 1 M Telemetry events (48-byte payloads) and 300 k
// RichEvents (~144 B) framed with XXH3, read from memory with
// `new StreamReader(bytes, deframer).processAll(noop)` under each validator;
// the same scan inside the addon (the per-frame cost within a batch); and the
// write side, where each payload is checked before it is staged. One process,
// every table alternating its rows, medians; nothing is asserted.
//   node bench/validation.mjs [--quick]   (re-runs itself with a pinned young generation)
import { randomFillSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { reexecWith, banner, compare, fmt, lib, quick, require, table } from './harness.mjs';
import { loadGenerated } from './generated.mjs';

// processAll hands out a view per frame and the JS validator allocates more:
// with the young generation pinned (V8's default maximum, as in reader.mjs)
// a row's scavenges do not depend on the rows that ran before it.
const NODE_FLAGS = ['--min-semi-space-size=16', '--max-semi-space-size=16'];
reexecWith(NODE_FLAGS, import.meta.url, loadGenerated); // compile before the child starts

const { StreamReader, StreamWriter, MemorySink, ChecksumFramer, ChecksumDeframer, XxHash64 } = lib;
const { SizeValidator, TableRootValidator, TypedValidator, CompositeValidator } = lib;
const { backend, ScanStatus, INDEX_HEADER } = require('../dist/cjs/engine/load.js');
const gen = loadGenerated();
const { Telemetry, RichEvent } = gen.arena;
const { ByteBuffer } = gen.mainFlatbuffers;
const bfbs = readFileSync(fileURLToPath(new URL('../test/generated/events.bfbs', import.meta.url)));

const T0 = 1_700_000_000_000_000_000n;
const POOL = 1024; // pre-built payloads for the write side, cycled
// The flatstream-rs figure for its structural check (TableRootValidator),
// quoted for comparison: another language and machine, not measured here.
const RS_STRUCTURAL_NS = 2;

// Each row gets its own compiled copy of its loop (see writer.mjs's bind()),
// so that no call site in a loop sees two rows' validators or types.
function bind(fn, scope) {
  const names = Object.keys(scope);
  return new Function(...names, `'use strict'; return (${fn.toString()});`)(
    ...names.map((k) => scope[k]),
  );
}

// ---- the workloads: flatc-generated TS, built as writer.mjs builds them --------
const LABELS = Array.from({ length: 64 }, (_, k) => `sensor-${String(k).padStart(4, '0')}-abcd`);
const READINGS = new Array(8).fill(0);
const workloads = [
  {
    name: 'telemetry',
    title: 'Telemetry (u64, u64, f64: 48-byte payloads)',
    events: quick ? 200_000 : 1_000_000,
    rootType: 'events.Telemetry',
    // value never 0 (a default, not stored), so that every payload is 48 bytes
    build: (b, i) =>
      b.finish(
        Telemetry.createTelemetry(b, BigInt(1000 + (i & 63)), T0 + BigInt(i), (i + 1) * 0.25),
      ),
    // What a user writes to check a payload in JS: a ByteBuffer over it, the
    // root, one field, and a try/catch.
    userCheck: (p) => {
      try {
        Telemetry.getRootAsTelemetry(new ByteBuffer(p)).deviceId();
        return true;
      } catch {
        return false;
      }
    },
  },
  {
    name: 'rich',
    title: 'RichEvent (u64 id, u64 ts, 16-char label, 8 f64 readings)',
    events: quick ? 60_000 : 300_000,
    rootType: 'events.RichEvent',
    build: (b, i) => {
      for (let k = 0; k < 8; k++) READINGS[k] = i * 0.001 + k * 1.25;
      const l = b.createString(LABELS[i & 63]);
      const r = RichEvent.createReadingsVector(b, READINGS);
      RichEvent.startRichEvent(b);
      RichEvent.addDeviceId(b, BigInt(1000 + (i & 63)));
      RichEvent.addTimestamp(b, T0 + BigInt(i));
      RichEvent.addLabel(b, l);
      RichEvent.addReadings(b, r);
      b.finish(RichEvent.endRichEvent(b));
    },
    userCheck: (p) => {
      try {
        RichEvent.getRootAsRichEvent(new ByteBuffer(p)).deviceId();
        return true;
      } catch {
        return false;
      }
    },
  },
];

function buildStream(w) {
  const sink = new MemorySink();
  const writer = new StreamWriter(sink, new ChecksumFramer(XxHash64));
  const item = { i: 0, serialize: (b) => w.build(b, item.i) };
  for (let i = 0; i < w.events; i++) {
    item.i = i;
    writer.write(item);
  }
  writer.close();
  return sink.toBuffer();
}

// The validators, named as the rows print them. `schema` needs the addon.
function validators(w) {
  const user = TypedValidator.fromFunction(`user: ${w.rootType}`, w.userCheck);
  const v = [
    { key: 'none', name: 'no validator', v: null },
    { key: 'size', name: 'SizeValidator(1, 64 KiB)', v: new SizeValidator(1, 65536) },
    { key: 'root', name: 'TableRootValidator()', v: new TableRootValidator() },
  ];
  if (lib.native) {
    const schema = () => TypedValidator.fromSchema(bfbs, { rootType: w.rootType });
    v.push(
      { key: 'schema', name: `TypedValidator.fromSchema('${w.rootType}')`, v: schema() },
      {
        key: 'both',
        name: 'TableRoot + Schema (CompositeValidator)',
        v: new CompositeValidator(new TableRootValidator(), schema()),
      },
    );
  }
  v.push({
    key: 'js',
    name: 'JS fromFunction: getRootAs…(new ByteBuffer(p)).deviceId() in try/catch',
    v: user,
  });
  return v;
}

const SHORT = {
  size: 'Size',
  root: 'TableRoot',
  schema: 'Schema',
  both: 'TableRoot + Schema',
  js: 'JS fromFunction',
};

const deframerFor = (v) =>
  v ? new ChecksumDeframer(XxHash64).withValidator(v) : new ChecksumDeframer(XxHash64);
const framerFor = (v) =>
  v ? new ChecksumFramer(XxHash64).withValidator(v) : new ChecksumFramer(XxHash64);
const noop = () => undefined;

// ---- the loops, one compiled copy per row -----------------------------------
function readLoop(n) {
  let f = 0;
  for (let i = 0; i < n; i++) f += new StreamReader(bytes, deframer).processAll(noop);
  return f;
}
// The engine as the reader's cursor calls it: 4096 frames per call, the
// validators (`chain`: the deframer's compiled batch) run inside the scan.
function engineLoop(n) {
  let f = 0;
  for (let i = 0; i < n; i++) {
    let pos = 0;
    for (;;) {
      f += backend.scanFrames(bytes, pos, bytes.length, kind, 8, 2 ** 31, index, chain);
      pos += index[2];
      if (index[0] !== ScanStatus.IndexFull) break;
    }
    if (index[0] !== ScanStatus.End) throw new Error(`scan stopped with status ${index[0]}`);
  }
  return f;
}
// One native call per payload, as the write side makes it before staging.
function checkLoop(n) {
  let bad = 0;
  for (let i = 0; i < n; i++)
    for (let k = 0; k < events; k++) {
      const p = pool[k & (POOL - 1)];
      if (compiled.check(p, 0, p.length) !== null) bad++;
    }
  return bad;
}
function writeLoop(n) {
  let x = 0;
  for (let i = 0; i < n; i++) {
    const w = new StreamWriter(sink, framer);
    for (let k = 0; k < events; k++) w.writePayload(pool[k & (POOL - 1)]);
    w.close();
    x += events;
  }
  return x;
}

// ---- the tables ------------------------------------------------------------
const perFrame = (rows, units) => rows.map((r) => ({ ...r, ns: r.nsPerOp / units }));
const cost = (r, base) =>
  r === base ? '–' : `${r.ns - base.ns >= 0 ? '+' : ''}${fmt.ns(r.ns - base.ns)}`;

banner('Validators');
console.log(
  `events per run: ${workloads.map((w) => `${w.events.toLocaleString('en-US')} ${w.name}`).join(', ')}; ` +
    'XXH3 (ChecksumDeframer(XxHash64)) on every row',
);
if (!lib.native) console.log('(no addon: the schema rows are left out, fromSchema needs it)');

for (const w of workloads) {
  const bytes = buildStream(w);
  const vs = validators(w);
  const kind = new ChecksumDeframer(XxHash64).kind;
  const payloadSizes = new Set();
  const pool = [];
  new StreamReader(bytes, new ChecksumDeframer(XxHash64)).processAll((p) => {
    payloadSizes.add(p.length);
    if (pool.length < POOL) pool.push(p.slice());
  });
  const sizes = [...payloadSizes].sort((a, b) => a - b);
  const events = w.events;
  console.log(
    `\n### ${w.title}: ${events.toLocaleString('en-US')} frames, payload ${sizes[0]}` +
      `${sizes.length > 1 ? `–${sizes.at(-1)}` : ''} B, stream ${(bytes.length / 1e6).toFixed(1)} MB`,
  );

  // Every validator must accept every frame before anything is timed.
  for (const x of vs) {
    const got = new StreamReader(bytes, deframerFor(x.v)).processAll(noop);
    if (got !== events) throw new Error(`${w.name}/${x.key}: read ${got} of ${events} frames`);
  }

  // -- 1. from JS: processAll(noop) ------------------------------------------
  const read = perFrame(
    compare(
      vs.map((x) => ({
        ...x,
        run: bind(readLoop, { bytes, deframer: deframerFor(x.v), StreamReader, noop }),
      })),
    ),
    events,
  );
  const base = read[0];
  console.log(`\n#### Read: new StreamReader(bytes, deframer).processAll(noop), ${w.name}`);
  table(
    ['validator', 'frames/s', 'ns/frame', 'spread', 'cost ns/frame', 'vs none (speed)'],
    read.map((r) => [
      r.name,
      fmt.rate(1e9 / r.ns),
      fmt.ns(r.ns),
      fmt.spread(r),
      cost(r, base),
      fmt.ratio(base.ns / r.ns),
    ]),
    'lrrrrr',
  );

  // What each check catches: random bytes of the payload's size (not timed).
  const RANDOM = 10_000;
  const size = sizes.at(-1);
  const rejected = vs
    .filter((x) => x.v)
    .map((x) => {
      let n = 0;
      for (let k = 0; k < RANDOM; k++) if (x.v.validate(randomFillSync(new Uint8Array(size)))) n++;
      return `${SHORT[x.key]} ${n}`;
    });
  console.log(
    `\nrejected among ${RANDOM.toLocaleString('en-US')} random ${size}-byte payloads: ${rejected.join(', ')}`,
  );

  // -- 2. inside the addon: the batch scan with the validator chain ----------
  if (lib.native) {
    const index = new Uint32Array(INDEX_HEADER + 2 * 4096);
    const builtins = vs.filter((x) => x.key !== 'js');
    const engine = perFrame(
      compare(
        builtins.map((x) => ({
          ...x,
          run: bind(engineLoop, {
            bytes,
            kind,
            index,
            backend,
            ScanStatus,
            chain: x.v ? deframerFor(x.v).compiled.batch : undefined,
          }),
        })),
      ),
      events,
    );
    const e0 = engine[0];
    console.log(
      `\n#### Inside the batch: backend.scanFrames (XXH3) with the validator chain, ${w.name}`,
    );
    table(
      ['validator', 'frames/s', 'ns/frame', 'spread', 'cost ns/frame', 'flatstream-rs'],
      engine.map((r) => [
        r.name,
        fmt.rate(1e9 / r.ns),
        fmt.ns(r.ns),
        fmt.spread(r),
        cost(r, e0),
        r.key === 'root' ? `~${RS_STRUCTURAL_NS} (quoted)` : '',
      ]),
      'lrrrrr',
    );
  }

  // -- 3. the write side: each payload checked before staging ---------------
  const sink = { write() {} };
  const writeVs = vs.filter((x) => ['none', 'root', 'schema'].includes(x.key));
  const writeRows = writeVs.map((x) => ({
    ...x,
    name: `writePayload, ${x.v ? x.name : 'no validator'}`,
    run: bind(writeLoop, { sink, framer: framerFor(x.v), pool, events, StreamWriter, POOL }),
  }));
  // The write side's check alone: one N-API call (ValidatorChain#check) per
  // payload. With SizeValidator the check itself is two compares, so that
  // row is the call's own cost.
  for (const [name, v] of [
    ['SizeValidator', new SizeValidator(1, 65536)],
    ['TableRootValidator', new TableRootValidator()],
  ]) {
    writeRows.push({
      key: 'call',
      name: `diagnostic: ${name} alone, one native check per payload`,
      run: bind(checkLoop, { compiled: framerFor(v).compiled, pool, events, POOL }),
    });
  }
  const write = perFrame(compare(writeRows), events);
  const w0 = write[0];
  console.log(
    `\n#### Write: new StreamWriter(noop sink, ChecksumFramer(XxHash64)[.withValidator(v)]), ` +
      `writePayload of ${POOL} pre-built payloads, cycled, ${w.name}`,
  );
  table(
    ['row', 'frames/s', 'ns/frame', 'spread', 'cost ns/frame'],
    write.map((r) => [
      r.name,
      fmt.rate(1e9 / r.ns),
      fmt.ns(r.ns),
      fmt.spread(r),
      r.key === 'call' ? '' : cost(r, w0),
    ]),
    'lrrrr',
  );
}
