// Child of test/worker-terminate.test.ts: terminates workers while they are
// inside native calls that throw (an argument error) or that create objects
// (a capture's stats), at random instants. Prints "ok <rounds>" and exits 0
// when the process survived every termination; a native error rethrown while
// the worker's environment is torn down aborts it instead (SIGABRT).
const path = require('node:path');
const { Worker } = require('node:worker_threads');

const dist = path.join(__dirname, '..', 'dist', 'cjs');
const rounds = Number(process.argv[2] ?? 40);
const src = `
const { parentPort } = require('node:worker_threads');
const { nativeExport } = require(${JSON.stringify(path.join(dist, 'engine', 'load.js'))});
const checksum = nativeExport('checksum');
const scan = nativeExport('scanFrames');
const bad = new Uint8Array(4);
parentPort.postMessage('ready');
for (let i = 0; ; i++) {
  try { checksum(99, bad); } catch {}
  try { scan(bad, 0, 8, 0, 0, 16, new Uint32Array(1)); } catch {}
}
`;

(async () => {
  for (let i = 0; i < rounds; i++) {
    const w = new Worker(src, { eval: true });
    await new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    await new Promise((r) => setTimeout(r, Math.random() * 5));
    await w.terminate();
  }
  console.log(`ok ${rounds}`);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
