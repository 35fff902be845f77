// The main job in miniature: capture a stream of telemetry-sized frames with
// XXH3 checksums straight to a file, read the file back verifying every
// frame, and print figures. Uses the built package (npm run build).
import { rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const fs = require('../dist/cjs/index.js');
const { StreamWriter, StreamReader, ChecksumFramer, ChecksumDeframer, XxHash64 } = fs;

const N = Number(process.argv[2] ?? 1_000_000);
const file = join(tmpdir(), `flatstream-demo-${process.pid}.fst`);

// A 48-byte payload standing in for a telemetry event (device id, timestamp, value).
const payload = new Uint8Array(48);
const view = new DataView(payload.buffer);

// A path target is a FileSink: slabs go to the file with synchronous writes.
const writer = new StreamWriter(file, new ChecksumFramer(XxHash64), {
  append: false,
  slabSize: 1 << 20,
});
let t = process.hrtime.bigint();
for (let i = 0; i < N; i++) {
  view.setUint32(0, i, true);
  view.setFloat64(16, i * 0.5, true);
  writer.writePayload(payload);
}
writer.close();
const writeNs = Number(process.hrtime.bigint() - t);
const size = statSync(file).size;

// Read the file back: 4 MiB reads, one batch scan per 4096 frames, zero-copy views.
let sum = 0;
t = process.hrtime.bigint();
const frames = new StreamReader(file, new ChecksumDeframer(XxHash64)).processAll((p) => {
  sum += p[0];
});
const readNs = Number(process.hrtime.bigint() - t);
rmSync(file);

const rate = (n, ns) => `${((n / ns) * 1e3).toFixed(1)} M frames/s`;
console.log(
  `flatstream demo (${fs.native ? 'native addon' : 'TypeScript fallback'}, XXH3 via ${XxHash64.impl})`,
);
console.log(`  wrote   ${N} frames, ${size} bytes to ${file}: ${rate(N, writeNs)}`);
console.log(`  read    ${frames} frames back, every checksum verified: ${rate(frames, readNs)}`);
console.log(`  stats   ${JSON.stringify(writer.stats())}`);
if (frames !== N) {
  console.error(`expected ${N} frames, read ${frames}`);
  process.exit(1);
}
console.log(`  ok      (checksum of first bytes: ${sum})`);
