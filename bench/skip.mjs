// Skip mode on hostile bytes (issue 10): garbage in which every fourth offset
// declares a whole 16 KiB frame that fails its checksum, between intact
// frames, read with onCorrupt: 'skip' from bytes and from a Readable in
// 64 KiB chunks, beside a plain read of a clean stream of the same size and
// beside the numbers before the fix. Each row is the median of its rounds
// (alternating); the bytes checksummed by the search are reported too
// (docs/design.md "Skip mode": at most 64 per byte + 1 MiB).
//   node bench/skip.mjs [--quick]        FLATSTREAM_NATIVE=0 for the fallback
import { Readable } from 'node:stream';
import { banner, lib, median, quick, require, table } from './harness.mjs';

const { StreamReader, ChecksumFramer, ChecksumDeframer, MemorySink, StreamWriter, XxHash64 } = lib;
const { backend, native } = require('../dist/cjs/engine/load.js');

banner('skip mode: resynchronising through hostile bytes');

const KIB = 1024;
const MIB = 1024 * KIB;
const framer = new ChecksumFramer(XxHash64);
const deframer = new ChecksumDeframer(XxHash64);

function frames(payloads) {
  const sink = new MemorySink();
  const w = new StreamWriter(sink, framer);
  for (const p of payloads) w.writePayload(p);
  w.close();
  return sink.toBuffer();
}

function hostile(n) {
  const bad = Buffer.from(frames([Buffer.alloc(40, 2)]));
  bad[bad.length - 1] ^= 1;
  const garbage = Buffer.alloc(n);
  for (let i = 0; i < n; i += 4) garbage[i + 1] = 0x40;
  return Buffer.concat([
    frames([Buffer.alloc(40, 1)]),
    bad,
    garbage,
    frames([Buffer.alloc(100, 3)]),
  ]);
}

function clean(n) {
  const count = Math.max(1, Math.floor(n / (12 + 52)));
  return frames(Array.from({ length: count }, (_, i) => Buffer.alloc(52, i)));
}

function chunks(buf) {
  const parts = [];
  for (let at = 0; at < buf.length; at += 64 * KIB) parts.push(buf.subarray(at, at + 64 * KIB));
  return Readable.from(parts);
}

// Counts the bytes the search checksums (resyncFrames' out[3]).
let checksummed = 0;
const original = backend.resyncFrames;
backend.resyncFrames = function (...args) {
  const p = original.apply(this, args);
  const out = args[8];
  if (out && out.length >= 4) checksummed += out[3];
  return p;
};

async function time(fn) {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

// Before the fix (issue 10, same kind of input, 2-core machine).
const BEFORE = native
  ? { [128 * KIB]: '38 ms', [1 * MIB]: '1.9 s', [2 * MIB]: '4.9 s (63 s from a Readable)' }
  : { [1 * MIB]: '75 s' };

const sizes = quick ? [128 * KIB, 1 * MIB] : [128 * KIB, 1 * MIB, 2 * MIB, 4 * MIB];
const rounds = quick ? 3 : 5;
const rows = [];
for (const n of sizes) {
  const bad = hostile(n);
  const good = clean(bad.length);
  const samples = { bytes: [], stream: [], plain: [] };
  let work = 0;
  for (let r = 0; r < rounds; r++) {
    checksummed = 0;
    samples.bytes.push(
      await time(() =>
        new StreamReader(bad, deframer, { onCorrupt: 'skip' }).processAll(() => undefined),
      ),
    );
    work = checksummed;
    samples.stream.push(
      await time(() =>
        new StreamReader(chunks(bad), deframer, { onCorrupt: 'skip' }).processAllAsync(
          () => undefined,
        ),
      ),
    );
    samples.plain.push(
      await time(() => new StreamReader(good, deframer).processAll(() => undefined)),
    );
  }
  rows.push([
    `${n / KIB} KiB`,
    `${median(samples.bytes).toFixed(1)} ms`,
    `${median(samples.stream).toFixed(1)} ms`,
    `${median(samples.plain).toFixed(2)} ms`,
    `${(work / bad.length).toFixed(1)}`,
    BEFORE[n] ?? '—',
  ]);
}
table(
  [
    'garbage',
    'skip, bytes',
    'skip, Readable 64 KiB',
    'plain read, clean',
    'checksummed/byte',
    'before',
  ],
  rows,
  ['l', 'r', 'r', 'r', 'r', 'r'],
);
