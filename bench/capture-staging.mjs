// Capture staging costs (docs/design.md, "Capture staging: space, claims and
// identity"): what growing the staging by one slab costs the write() that
// needs it (fallocate + mmap, a stalled writer thread), and reopening a
// 1 GiB stream with and without its clean mark (the tail walk).
//   node bench/capture-staging.mjs     (needs `setfattr`, Debian: attr)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { lib } from './harness.mjs';

const dir = fs.mkdtempSync(`${tmpdir()}/flatstream-staging-bench-`);
// 1. growth cost on the event loop
{
  const sink = new lib.CaptureSink(`${dir}/g.fst`, {
    slabSize: 256 << 10,
    slabs: 1,
    maxBytes: 64 << 20,
    stagingPath: '/dev/shm/flatstream-staging-bench.staging',
  });
  const w = new lib.StreamWriter(sink, new lib.DefaultFramer());
  sink._injectFault({ delayMs: 2000 });
  const p = Buffer.alloc(1020);
  const grow = [],
    other = [];
  let slabs = sink.stats().slabs;
  for (let i = 0; i < 255 * 60; i++) {
    const t0 = process.hrtime.bigint();
    w.writePayload(p);
    const dt = Number(process.hrtime.bigint() - t0) / 1000;
    const s = i % 256 === 0 ? sink.stats().slabs : slabs;
    if (s !== slabs) {
      grow.push(dt);
      slabs = s;
    } else other.push(dt);
  }
  grow.sort((a, b) => a - b);
  console.log(
    `growth: ${grow.length} slabs grown; write() that grew: median ${grow[grow.length >> 1].toFixed(1)} µs, max ${grow.at(-1).toFixed(1)} µs`,
  );
  sink._injectFault({});
  w.close();
}
// 2. reopen of a 1 GB stream with and without the clean mark
{
  const file = `${dir}/big.fst`;
  const w = new lib.StreamWriter(new lib.FileSink(file), new lib.ChecksumFramer(lib.XxHash64), {
    slabSize: 1 << 20,
  });
  const p = Buffer.alloc(65536, 7);
  for (let i = 0; i < 16384; i++) w.writePayload(p);
  w.close();
  const size = fs.statSync(file).size;
  const time = (label) => {
    const t0 = process.hrtime.bigint();
    const sink = new lib.CaptureSink(file, { stagingPath: `${dir}/big.staging` });
    const wr = new lib.StreamWriter(sink, new lib.ChecksumFramer(lib.XxHash64));
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    console.log(
      `${label}: reopen ${(size / 2 ** 30).toFixed(2)} GiB: ${ms.toFixed(1)} ms, walked ${sink.recovery.walked}`,
    );
    sink.closeSync();
  };
  time('no clean mark (walks, page cache warm)');
  time('clean mark');
  execFileSync('setfattr', ['-x', 'user.flatstream.clean', file]);
  time('no clean mark again');
  time('clean mark again');
}
fs.rmSync(dir, { recursive: true });
