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
// 1. Growth seen from the event loop: 60 slabs' worth of 1 KiB frames with
// the writer thread stalled, so the staging grows by one slab per 256
// frames. Paced: 2 ms between slabs (the grower thread adds the next slab
// before it is needed); burst: no pause (the producer outruns the grower and
// waits for it, or grows itself).
for (const paced of [true, false]) {
  const sink = new lib.CaptureSink(`${dir}/g.fst`, {
    slabSize: 256 << 10,
    slabs: 1,
    maxBytes: 64 << 20,
    stagingPath: '/dev/shm/flatstream-staging-bench.staging',
  });
  const w = new lib.StreamWriter(sink, new lib.DefaultFramer());
  sink._injectFault({ delayMs: 3000 });
  const p = Buffer.alloc(1020);
  const worst = [];
  for (let slab = 0; slab < 60; slab++) {
    let max = 0;
    for (let i = 0; i < 256; i++) {
      const t0 = process.hrtime.bigint();
      w.writePayload(p);
      max = Math.max(max, Number(process.hrtime.bigint() - t0) / 1000);
    }
    worst.push(max);
    if (paced) await new Promise((r) => setTimeout(r, 2));
  }
  worst.sort((a, b) => a - b);
  const s = sink.stats();
  console.log(
    `growth, ${paced ? 'paced' : 'burst'}: ${s.slabs} slabs (${s.grownAhead} added ahead by the grower thread); ` +
      `slowest write() per slab: median ${worst[worst.length >> 1].toFixed(1)} µs, max ${worst.at(-1).toFixed(1)} µs`,
  );
  sink._injectFault({});
  w.close();
  await w.finished();
  fs.rmSync(`${dir}/g.fst`);
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
