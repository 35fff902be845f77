// Child process of test/rotating-sink.test.ts (loads dist/).
//   shm DIR:     counts /dev/shm entries (run in a namespace with a tmpfs of its own)
//                around 20 captures opened, written and closed, one SIGKILLed, and its reopen
//   rotate BASE: a capturing RotatingSink rotating every 500 frames and by size,
//                printing "accepted N" after every 250 write()s returned, until killed
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const F = require('../dist/cjs/index.js');

const [, , scenario, arg] = process.argv;
const shm = () => fs.readdirSync('/dev/shm').length;
const say = (o) => fs.writeSync(1, `${typeof o === 'string' ? o : JSON.stringify(o)}\n`);
const payload = (i) => {
  const b = Buffer.alloc(40, 0xab);
  b.writeUInt32LE(i, 0);
  return b;
};

async function main() {
  if (scenario === 'shm') {
    say({ step: 'before', shm: shm() });
    for (let k = 0; k < 20; k++) {
      const w = new F.StreamWriter(
        new F.CaptureSink(path.join(arg, `s${k}.fst`)),
        new F.ChecksumFramer(F.XxHash64),
      );
      for (let i = 0; i < 100; i++) w.writePayload(payload(i));
      w.close();
      await w.finished();
    }
    say({ step: 'after 20 closed', shm: shm() });
    // A child that stages 1000 frames and is killed before anything is written.
    const file = path.join(arg, 'killed.fst');
    const r = spawnSync(process.execPath, [
      '-e',
      `const F = require(${JSON.stringify(path.join(__dirname, '../dist/cjs/index.js'))});
       const w = new F.StreamWriter(new F.CaptureSink(${JSON.stringify(file)}, { flushIntervalMs: 1000000 }), new F.ChecksumFramer(F.XxHash64));
       for (let i = 0; i < 1000; i++) w.writePayload(Buffer.alloc(40));
       process.kill(process.pid, 'SIGKILL');`,
    ]);
    say({ step: 'killed', shm: shm(), code: r.status, signal: r.signal });
    const sink = new F.CaptureSink(file);
    const recoveredFrames = sink.recovery.frames;
    sink.closeSync();
    let frames = 0;
    for (const _ of F.StreamReader.open(file).messages()) frames++;
    say({ step: 'reopened', shm: shm(), recoveredFrames, frames });
    return;
  }
  if (scenario === 'full-next') {
    // DIR is a tmpfs with room for one more inode: the first file is made,
    // the next one cannot be (ENOSPC), while the first still takes writes.
    const capture = process.argv[4] === 'capture';
    const sink = new F.RotatingSink(path.join(arg, 'ev.fst'), {
      ...(capture ? { capture: { slabSize: 4096 } } : { slabSize: 4096 }),
      header: {},
    });
    const errors = [];
    sink.on('prepareError', (e) => errors.push(`${e.name} ${e.systemCode}`));
    const w = new F.StreamWriter(sink, new F.ChecksumFramer(F.XxHash64));
    for (let i = 0; i < 100; i++) w.writePayload(payload(i));
    const prepared = await sink.whenPrepared();
    let thrown = null;
    try {
      w.rotate();
    } catch (e) {
      thrown = `${e.name} ${e.systemCode}`;
    }
    for (let i = 100; i < 200; i++) w.writePayload(payload(i));
    w.close();
    await w.finished();
    // 'prepareError' is emitted on a later tick (a portable close can finish first).
    await new Promise(setImmediate);
    const files = F.listRotation(path.join(arg, 'ev.fst')).map((f) => {
      const ids = [];
      for (const p of F.StreamReader.open(f).messages()) ids.push(Buffer.from(p).readUInt32LE(0));
      return [path.basename(f), ids.length, ids[0], ids[ids.length - 1]];
    });
    say({ prepared, thrown, errors, files, entries: fs.readdirSync(arg).sort() });
    return;
  }
  if (scenario === 'exit') {
    // process.exit() right after a rotation, without close(): the file left
    // is still being closed, the next one pending, a third being prepared.
    const capture = process.argv[4] === 'capture';
    const sink = new F.RotatingSink(arg, {
      ...(capture ? { capture: { slabSize: 4096 } } : { slabSize: 4096 }),
    });
    const w = new F.StreamWriter(sink, new F.ChecksumFramer(F.XxHash64));
    for (let i = 0; i < 100; i++) w.writePayload(payload(i));
    await sink.whenPrepared();
    void w.rotate();
    for (let i = 100; i < 150; i++) w.writePayload(payload(i));
    say(
      JSON.stringify({
        pending: fs.readdirSync(path.dirname(arg)).filter((n) => n.endsWith('.pending')).length,
      }),
    );
    process.exit(0);
  }
  if (scenario === 'ignored-failure') {
    // The file left fails its fsync and the caller ignores rotate()'s
    // promise: no unhandled rejection (Node would end the process), and the
    // writer's next call throws the IoError.
    const real = fs.fsync;
    fs.fsync = (fd, cb) => {
      fs.fsync = real;
      cb(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }));
    };
    const sink = new F.RotatingSink(arg, { slabSize: 4096 });
    const w = new F.StreamWriter(sink, new F.ChecksumFramer(F.XxHash64));
    w.writePayload(payload(0));
    await sink.whenPrepared();
    w.rotate(); // ignored
    await new Promise((r) => setTimeout(r, 50));
    try {
      w.writePayload(payload(1));
      say('written');
    } catch (e) {
      say(`${e.name}: ${e.message}`);
    }
    return;
  }
  if (scenario === 'readonly') {
    // Run as a user the permission bits apply to: the directory is made
    // read-only under a running writer, with the next file prepared.
    const base = path.join(arg, 'ev.fst');
    const sink = new F.RotatingSink(base, { slabSize: 4096 });
    const errors = [];
    sink.on('prepareError', (e) => errors.push(`prepareError ${e.systemCode}`));
    const w = new F.StreamWriter(sink, new F.ChecksumFramer(F.XxHash64));
    for (let i = 0; i < 10; i++) w.writePayload(payload(i));
    await sink.whenPrepared();
    fs.chmodSync(arg, 0o555);
    const rotating = w.rotate();
    w.writePayload(payload(10)); // after the switch: in the next file
    w.flush();
    const rotated = await rotating.then(
      () => 'resolved',
      (e) => `${e.name} ${e.cause?.code}`,
    );
    let next = 'written';
    try {
      w.writePayload(payload(11));
    } catch (e) {
      next = `${e.name}`;
    }
    try {
      w.close();
    } catch {
      // the writer's failure, again
    }
    await w.finished().catch(() => undefined);
    say({ rotated, next, errors, entries: fs.readdirSync(arg).sort() });
    fs.chmodSync(arg, 0o755);
    const again = new F.RotatingSink(base);
    say({
      named: again.recovery.named.map((f) => path.basename(f)),
      files: F.listRotation(base).map((f) => path.basename(f)),
    });
    return;
  }
  if (scenario === 'tail-writer') {
    // Files (no capture, either engine): 10 frames, "ready", then on a line
    // of stdin 2990 more in batches of 50, rotating every 300 frames and by
    // size, with event-loop turns between batches; "done" once closed.
    const sink = new F.RotatingSink(arg, { slabSize: 1024, maxBytes: 8192, header: {} });
    const w = new F.StreamWriter(sink, new F.ChecksumFramer(F.XxHash64));
    for (let i = 0; i < 10; i++) w.writePayload(payload(i));
    w.flush();
    say('ready');
    await new Promise((r) => process.stdin.once('data', r));
    process.stdin.pause();
    for (let i = 10; i < 3000; i++) {
      w.writePayload(payload(i));
      if ((i + 1) % 300 === 0) await w.rotate();
      if ((i + 1) % 50 === 0) {
        w.flush();
        await new Promise((r) => setTimeout(r, 2));
      }
    }
    w.close();
    await w.finished();
    say(`done ${sink.stats().rotations}`);
    return;
  }
  if (scenario === 'rotate') {
    // Files: "accepted N" after a flush (a FileSink keeps nothing staged
    // once flushed); a capture keeps what write() accepted.
    const files = process.argv[4] === 'files';
    const sink = new F.RotatingSink(arg, {
      ...(files ? { slabSize: 4096 } : { capture: { slabSize: 4096, flushIntervalMs: 1 } }),
      maxBytes: 16384,
      header: {},
    });
    const w = new F.StreamWriter(sink, new F.ChecksumFramer(F.XxHash64));
    for (let i = 0; ; i++) {
      w.writePayload(payload(i));
      if ((i + 1) % 500 === 0) w.rotate().catch(() => undefined);
      if ((i + 1) % 250 === 0) {
        if (files) w.flush();
        say(`accepted ${i + 1}`);
        await new Promise((r) => setImmediate(r));
      }
    }
  }
}
main().catch((e) => {
  fs.writeSync(2, `${e.stack}\n`);
  process.exit(3);
});
