// A writer process for test/read-follow-process.test.ts, on the built
// package (dist/). Payload: [u32 writer][u32 seq][u32 hash][body], the hash
// (FNV-1a) over writer, seq and body, so a follower can check each frame.
//   node follow-writer.js PATH WRITER SEED raw [tornAfter]
//     appends frames forever through framer.frame(), each batch written in
//     1-3 pieces with pauses between them (torn tails at the end of the file
//     while it runs); with tornAfter, stops inside frame tornAfter (a large
//     one) and prints
//     "torn". Prints "ready" after its first write. Killed by the test.
//   node follow-writer.js PATH WRITER SEED writer COUNT
//     opens PATH with a StreamWriter and { recover } (cuts a torn tail),
//     writes COUNT frames, flushing at random points; prints "done COUNT".
//   node follow-writer.js PATH WRITER SEED capture [COUNT]
//     the same through a CaptureSink (staging at PATH.staging): without
//     COUNT forever (prints "ready" once a frame is in the file; killed by
//     the test), with COUNT it reopens the stream (draining what a dead
//     writer staged, cutting a torn tail), writes COUNT frames and closes.
'use strict';
const fs = require('node:fs');
const { join } = require('node:path');
const { CaptureSink, ChecksumDeframer, ChecksumFramer, StreamWriter, XxHash64 } = require(
  join(__dirname, '..', 'dist', 'cjs', 'index.js'),
);

const [path, writerArg, seedArg, mode, extra] = process.argv.slice(2);
const writer = Number(writerArg);
let x = Number(seedArg) >>> 0 || 1;
const rnd = (n) => {
  x ^= x << 13;
  x >>>= 0;
  x ^= x >>> 17;
  x ^= x << 5;
  x >>>= 0;
  return x % n;
};

function fnv(buf) {
  let h = 0x811c9dc5;
  for (let i = 0; i < buf.length; i++) h = Math.imul(h ^ buf[i], 0x01000193) >>> 0;
  return h;
}

function payload(seq, len = rnd(8) === 0 ? rnd(20000) : rnd(600)) {
  const p = Buffer.alloc(12 + len);
  p.writeUInt32LE(writer, 0);
  p.writeUInt32LE(seq, 4);
  for (let i = 12; i < p.length; i++) p[i] = rnd(256);
  p.writeUInt32LE(0, 8);
  p.writeUInt32LE(fnv(p), 8);
  return p;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const framer = new ChecksumFramer(XxHash64);

async function raw() {
  const tornAfter = extra === undefined ? -1 : Number(extra);
  const fd = fs.openSync(path, 'a');
  let seq = 0;
  let ready = false;
  for (;;) {
    const frames = [];
    for (let k = 1 + rnd(4); k > 0; k--) {
      if (seq === tornAfter) {
        // A large frame, cut anywhere: its prefix can be longer than a read.
        const f = framer.frame(payload(seq, 12000 + rnd(8000)));
        fs.writeSync(fd, Buffer.concat([...frames, f.subarray(0, 1 + rnd(f.length - 1))]));
        console.log('torn');
        for (;;) await sleep(1000);
      }
      frames.push(framer.frame(payload(seq++)));
    }
    const batch = Buffer.concat(frames);
    let at = 0;
    for (let pieces = 1 + rnd(3); pieces > 0; pieces--) {
      const end = pieces === 1 ? batch.length : at + rnd(batch.length - at + 1);
      fs.writeSync(fd, batch.subarray(at, end));
      at = end;
      if (!ready) {
        ready = true;
        console.log('ready');
      }
      await sleep(rnd(4));
    }
    if (rnd(4) === 0) await sleep(rnd(10));
  }
}

async function viaWriter() {
  const count = Number(extra);
  const w = new StreamWriter(path, framer, {
    recover: new ChecksumDeframer(XxHash64),
    slabSize: 4096,
  });
  for (let seq = 0; seq < count; seq++) {
    w.writePayload(payload(seq));
    if (rnd(5) === 0) w.flush();
    if (rnd(10) === 0) await sleep(rnd(8));
  }
  w.close();
  console.log(`done ${count}`);
}

async function capture() {
  const count = extra === undefined ? Infinity : Number(extra);
  const sink = new CaptureSink(path, { stagingPath: `${path}.staging`, slabSize: 65536 });
  const w = new StreamWriter(sink, framer);
  let ready = false;
  for (let seq = 0; seq < count; seq++) {
    w.writePayload(payload(seq));
    if (rnd(5) === 0) w.flush();
    if (rnd(10) === 0) {
      await sleep(rnd(8));
      if (!ready && fs.statSync(path).size > 0) {
        ready = true;
        console.log('ready');
      }
    }
  }
  w.close();
  await w.finished();
  console.log(`done ${count}`);
}

const run = { raw, writer: viaWriter, capture }[mode];
run().catch((err) => {
  console.error(err);
  process.exit(1);
});
