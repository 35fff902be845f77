// A shipper whose checkpoint lives on a full filesystem, for
// test/ship.test.ts: run inside a private mount namespace with a small
// tmpfs at MNT (unshare -m), on the built package (dist/).
//   node ship-full-disk-child.js URL SUBJECT FILE MNT
// Fills MNT but one page (taken by the checkpoint's lock), starts the
// shipper, waits for two failed checkpoint writes (nothing may be published
// meanwhile), frees the space, waits until the file is shipped, closes and
// prints {"errors":N,"framesWhileFull":N,"frames":N,"code":"ENOSPC"}.
'use strict';
const fs = require('node:fs');
const { join } = require('node:path');
const { JetStreamShipper } = require(join(__dirname, '..', 'dist', 'cjs', 'index.js'));

const [url, subject, file, mnt] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

(async () => {
  fs.writeFileSync(join(mnt, 'reserve'), Buffer.alloc(4096));
  const fd = fs.openSync(join(mnt, 'filler'), 'w');
  const chunk = Buffer.alloc(4096);
  try {
    for (;;) fs.writeSync(fd, chunk);
  } catch (err) {
    if (err.code !== 'ENOSPC') throw err;
  }
  fs.closeSync(fd);
  fs.rmSync(join(mnt, 'reserve'));
  const s = new JetStreamShipper({
    servers: url,
    subject,
    path: file,
    checkpoint: join(mnt, 'cp'),
  });
  let errors = 0;
  let code = '';
  s.on('checkpointError', (e) => {
    errors++;
    code = e.code;
  });
  const done = s.run();
  while (errors < 2) await sleep(10);
  const framesWhileFull = s.stats().frames;
  fs.rmSync(join(mnt, 'filler'));
  const size = fs.statSync(file).size;
  while (s.stats().acked?.offset !== size) await sleep(10);
  await s.close();
  await done;
  process.stdout.write(
    JSON.stringify({ errors, framesWhileFull, frames: s.stats().frames, code }) + '\n',
  );
})().catch((err) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(3);
});
