// A writer process for the JetStream shipper suites (test/ship*.test.ts),
// on the built package (dist/). Telemetry-sized payloads (48 bytes):
// [u32 writer][u32 seq][u32 FNV-1a of the rest][36 bytes], XXH3 frames, a
// stream header naming the writer.
//   node ship-writer.js PATH WRITER FIRST COUNT SINK [PACE]
//     SINK: capture (CaptureSink, staging at PATH.staging; reopening drains
//     what a dead writer staged and cuts a torn tail) or file (a FileSink
//     through StreamWriter with { recover }). Writes frames FIRST ..
//     FIRST+COUNT-1 in bursts of PACE frames (default 1000) with a 1 ms
//     pause between bursts, so a shipper runs beside it; prints "ready"
//     after the first burst reached the file and "done N" at the end.
'use strict';
const { join } = require('node:path');
const { CaptureSink, ChecksumDeframer, ChecksumFramer, StreamWriter, XxHash64 } = require(
  join(__dirname, '..', 'dist', 'cjs', 'index.js'),
);

const [path, writerArg, firstArg, countArg, sinkKind, paceArg] = process.argv.slice(2);
const writer = Number(writerArg);
const first = Number(firstArg);
const count = Number(countArg);
const pace = Number(paceArg ?? 1000);

// FNV-1a over the payload's bytes 4..8 (seq) and 12..48 (body).
function hash(buf) {
  let h = 0x811c9dc5;
  for (let i = 4; i < buf.length; i++)
    if (i < 8 || i >= 12) h = Math.imul(h ^ buf[i], 0x01000193) >>> 0;
  return h;
}

const header = { rootType: 'test.Telemetry', meta: { writer: String(writer) } };
const framer = new ChecksumFramer(XxHash64);
const sink =
  sinkKind === 'capture' ? new CaptureSink(path, { stagingPath: `${path}.staging`, header }) : null;
const w = sink
  ? new StreamWriter(sink, framer)
  : new StreamWriter(path, framer, { recover: new ChecksumDeframer(XxHash64), header });

const p = Buffer.alloc(48);
p.writeUInt32LE(writer, 0);
for (let i = 12; i < 48; i++) p[i] = (i * 7 + writer) & 0xff;

(async () => {
  let seq = first;
  const end = first + count;
  let ready = false;
  while (seq < end) {
    const stop = Math.min(end, seq + pace);
    for (; seq < stop; seq++) {
      p.writeUInt32LE(seq, 4);
      p[12] = seq & 0xff;
      p.writeUInt32LE(hash(p), 8);
      if (w.writePayload(p) === false) await w.drain();
    }
    w.flush();
    if (sink) await sink.flushed();
    if (!ready) {
      ready = true;
      process.stdout.write('ready\n');
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  w.close();
  await w.finished();
  process.stdout.write(`done ${count}\n`);
})().catch((err) => {
  process.stderr.write(`${err.stack}\n`);
  process.exit(3);
});
