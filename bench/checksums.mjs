// Checksum throughput from JS: one-shot calls on 64-byte inputs (where the
// cost of crossing into native code dominates) and large inputs (where the
// algorithm does), ours against what a user has today.
//   node bench/checksums.mjs [--quick]
//   FLATSTREAM_NATIVE=0 node bench/checksums.mjs   (the TypeScript fallback)
import { randomFillSync } from 'node:crypto';
import zlib from 'node:zlib';
import { banner, compare, fmt, lib, quick, require, table, verdict } from './harness.mjs';

const { XxHash64, Crc32, Crc16, Crc32c, Crc64 } = lib;
const { xxh3 } = require('@node-rs/xxhash');
// Internal, for diagnosis only: the engine call without the facade's argument
// checks, to show what the public compute() adds per call.
const { backend } = require('../dist/cjs/engine/load.js');

if (typeof zlib.crc32 !== 'function') {
  console.error('bench: zlib.crc32 needs Node 20.15+ / 22.2+');
  process.exit(1);
}

const rand = (n) => randomFillSync(Buffer.allocUnsafe(n));

// Every case has its own loop (not one loop calling fn(buf)): a shared loop
// would see several callees and go polymorphic, penalising whichever runs last.
// bigint results are compared, not folded: folding would allocate a bigint per call.
function oneShotCases() {
  const bufs = Array.from({ length: 16 }, () => rand(64));
  return [
    {
      name: 'flatstream XxHash64.compute',
      peer: '@node-rs/xxhash xxh3.xxh64',
      run(n) {
        let z = 0;
        for (let i = 0; i < n; i++) if (XxHash64.compute(bufs[i & 15]) === 0n) z++;
        return z;
      },
    },
    {
      name: '@node-rs/xxhash xxh3.xxh64',
      run(n) {
        let z = 0;
        for (let i = 0; i < n; i++) if (xxh3.xxh64(bufs[i & 15]) === 0n) z++;
        return z;
      },
    },
    {
      name: 'flatstream Crc32.compute',
      peer: 'zlib.crc32',
      run(n) {
        let x = 0;
        for (let i = 0; i < n; i++) x ^= Crc32.compute(bufs[i & 15]);
        return x;
      },
    },
    {
      name: 'zlib.crc32',
      run(n) {
        let x = 0;
        for (let i = 0; i < n; i++) x ^= zlib.crc32(bufs[i & 15]);
        return x;
      },
    },
    {
      name: 'flatstream Crc16.compute',
      run(n) {
        let x = 0;
        for (let i = 0; i < n; i++) x ^= Crc16.compute(bufs[i & 15]);
        return x;
      },
    },
    {
      name: 'flatstream Crc32c.compute',
      run(n) {
        let x = 0;
        for (let i = 0; i < n; i++) x ^= Crc32c.compute(bufs[i & 15]);
        return x;
      },
    },
    {
      name: 'flatstream Crc64.compute',
      run(n) {
        let z = 0;
        for (let i = 0; i < n; i++) if (Crc64.compute(bufs[i & 15]) === 0n) z++;
        return z;
      },
    },
    {
      name: '(internal) backend.checksum, XXH3',
      peer: '@node-rs/xxhash xxh3.xxh64',
      run(n) {
        let z = 0;
        for (let i = 0; i < n; i++) if (backend.checksum(3, bufs[i & 15]) === 0n) z++;
        return z;
      },
    },
    {
      name: '(internal) backend.checksum, CRC32',
      peer: 'zlib.crc32',
      run(n) {
        let x = 0;
        for (let i = 0; i < n; i++) x ^= backend.checksum(2, bufs[i & 15]);
        return x;
      },
    },
  ];
}

// One call per operation: the call overhead is amortised over `size` bytes.
function largeCases(size) {
  const src = rand(size);
  const dst = Buffer.allocUnsafe(size);
  const big = (f) => (n) => {
    let z = 0;
    for (let i = 0; i < n; i++) if (f(src) === 0n) z++;
    return z;
  };
  const num = (f) => (n) => {
    let x = 0;
    for (let i = 0; i < n; i++) x ^= f(src);
    return x;
  };
  // Large inputs spend microseconds per call, so the shared-loop polymorphism
  // that matters at 64 bytes is noise here.
  return [
    { name: 'flatstream XxHash64', peer: '@node-rs/xxhash xxh3.xxh64', run: big(XxHash64.compute) },
    { name: '@node-rs/xxhash xxh3.xxh64', run: big(xxh3.xxh64) },
    { name: 'flatstream Crc32', peer: 'zlib.crc32', run: num(Crc32.compute) },
    { name: 'zlib.crc32', run: num(zlib.crc32) },
    { name: 'flatstream Crc32c', run: num(Crc32c.compute) },
    { name: 'flatstream Crc16', run: num(Crc16.compute) },
    { name: 'flatstream Crc64', run: big(Crc64.compute) },
    {
      name: 'memcpy: Buffer#copy',
      run(n) {
        for (let i = 0; i < n; i++) src.copy(dst, 0);
        return dst[0];
      },
    },
    {
      name: 'memcpy: Uint8Array#set',
      run(n) {
        for (let i = 0; i < n; i++) dst.set(src, 0);
        return dst[0];
      },
    },
  ];
}

const byName = (results) => new Map(results.map((r) => [r.name, r]));

banner('Checksums from JS');

console.log('\n### One-shot calls, 64-byte input');
const one = compare(oneShotCases());
const oneBy = byName(one);
table(
  ['call', 'ns/call', 'spread', 'calls/s', 'vs peer (speed)', 'peer'],
  one.map((r) => {
    const p = r.peer && oneBy.get(r.peer);
    return [
      r.name,
      fmt.ns(r.nsPerOp),
      fmt.spread(r),
      fmt.rate(1e9 / r.nsPerOp),
      p ? fmt.ratio(p.nsPerOp / r.nsPerOp) : '',
      r.peer ?? '',
    ];
  }),
  'lrrrrl',
);

const large = {};
for (const size of [4096, 1 << 20]) {
  console.log(`\n### Large input, ${size >= 1 << 20 ? '1 MiB' : '4 KiB'} (GB/s = 10^9 bytes/s)`);
  const res = compare(largeCases(size));
  const by = byName(res);
  const gbs = (r) => size / r.nsPerOp;
  const copy = by.get('memcpy: Buffer#copy');
  table(
    ['call', 'GB/s', 'spread', 'µs/call', 'vs peer (speed)', 'vs Buffer#copy', 'peer'],
    res.map((r) => {
      const p = r.peer && by.get(r.peer);
      return [
        r.name,
        fmt.gbs(gbs(r)),
        fmt.spread(r),
        (r.nsPerOp / 1e3).toFixed(2),
        p ? fmt.ratio(p.nsPerOp / r.nsPerOp) : '',
        fmt.ratio(copy.nsPerOp / r.nsPerOp),
        r.peer ?? '',
      ];
    }),
    'lrrrrrl',
  );
  large[size] = { by, gbs };
}

// Targets are reported, never asserted: these numbers are medians on a shared machine.
if (lib.native) {
  const L = large[1 << 20];
  const g = (n) => L.gbs(L.by.get(n));
  const speed = (a, b) => oneBy.get(b).nsPerOp / oneBy.get(a).nsPerOp;
  const rows = [
    [
      'XXH3, 1 MiB',
      '>= 20 GB/s',
      `${fmt.gbs(g('flatstream XxHash64'))} GB/s`,
      g('flatstream XxHash64') >= 20,
    ],
    [
      'CRC32, 1 MiB',
      '>= zlib.crc32',
      `${fmt.gbs(g('flatstream Crc32'))} vs ${fmt.gbs(g('zlib.crc32'))} GB/s`,
      g('flatstream Crc32') >= g('zlib.crc32'),
    ],
    [
      'CRC-32C, 1 MiB',
      '>= 10 GB/s',
      `${fmt.gbs(g('flatstream Crc32c'))} GB/s`,
      g('flatstream Crc32c') >= 10,
    ],
    [
      'CRC16, 1 MiB',
      '>= 1 GB/s',
      `${fmt.gbs(g('flatstream Crc16'))} GB/s`,
      g('flatstream Crc16') >= 1,
    ],
    [
      'XxHash64.compute, 64 B',
      'faster than @node-rs/xxhash',
      `${fmt.ratio(speed('flatstream XxHash64.compute', '@node-rs/xxhash xxh3.xxh64'))} its speed`,
      speed('flatstream XxHash64.compute', '@node-rs/xxhash xxh3.xxh64') > 1,
    ],
    [
      'Crc32.compute, 64 B',
      'faster than zlib.crc32',
      `${fmt.ratio(speed('flatstream Crc32.compute', 'zlib.crc32'))} its speed`,
      speed('flatstream Crc32.compute', 'zlib.crc32') > 1,
    ],
  ];
  console.log('\n### Targets (reported, not asserted)');
  table(
    ['what', 'target', 'measured', ''],
    rows.map((r) => [r[0], r[1], r[2], verdict(r[3])]),
    'llll',
  );
} else {
  console.log(
    '\n(TypeScript fallback: for reference only; the targets apply to the native addon.)',
  );
}
