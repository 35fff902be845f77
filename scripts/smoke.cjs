// The smoke test of a built addon on a platform the jest suite does not run
// on (Windows Node under wine: scripts/cross-win64.mjs; docs/design.md,
// "Platforms"), and of the packed linux-x64 prebuild under each Node major
// that "engines" admits (scripts/pack-test.mjs; docs/design.md,
// "Packaging"). Plain CommonJS, Node 18 syntax and APIs, no dependencies beyond the package: loads
// flatstream from the package directory given as argv[2] (its dist/ and its
// addon, found by node-gyp-build), requires the native engine, and checks
// the checksum known-answer values, a write/read round trip of every
// checksum kind, and a CaptureSink round trip through a file (staging in
// the OS temp directory). Prints "smoke: N passed, N failed".
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const pkg = path.resolve(process.argv[2] ?? path.join(__dirname, '..'));
let passed = 0;
let failed = 0;
function check(name, ok, detail) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}`);
  if (ok) passed++;
  else failed++;
}

async function main() {
  const f = require(path.join(pkg, 'dist', 'cjs', 'index.js'));
  check(
    `native addon loaded (${process.platform}-${process.arch}, Node ${process.version})`,
    f.native === true,
    f.nativeError ? String(f.nativeError.message) : '',
  );
  if (f.native !== true) return;

  const kat = Buffer.from('123456789');
  const expected = [
    [f.Crc16, 0x31c3n],
    [f.Crc32, 0xcbf43926n],
    [f.XxHash64, 0x72dcb18b67a17dffn],
    [f.Crc32c, 0xe3069283n],
    [f.Crc64, 0x995dc9bbdf1939fan],
  ];
  for (const [c, want] of expected) {
    const got = BigInt(c.compute(kat));
    check(`${c.name} KAT (impl ${c.impl})`, got === want, `0x${got.toString(16)}`);
  }
  // Lengths around every vector and fold width, against a bytewise CRC-32C.
  const crc32cRef = (b) => {
    let c = 0xffffffff;
    for (const x of b) {
      c ^= x;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    }
    return (c ^ 0xffffffff) >>> 0;
  };
  let bad = 0;
  for (let n = 0; n <= 1100; n += n < 80 ? 1 : 7) {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = (i * 131 + n) & 0xff;
    if (Number(f.Crc32c.compute(b)) !== crc32cRef(b)) bad++;
  }
  check(
    'crc32c agrees with a bytewise reference at 0..1100 bytes',
    bad === 0,
    `${bad} lengths differ`,
  );

  for (const c of [f.NoChecksum, f.Crc16, f.Crc32, f.XxHash64, f.Crc32c, f.Crc64]) {
    const sink = new f.MemorySink();
    const w = new f.StreamWriter(sink, new f.ChecksumFramer(c));
    const sent = [];
    for (let i = 0; i < 100; i++) {
      const p = Buffer.alloc(i * 13, i);
      sent.push(p);
      w.writePayload(p);
    }
    w.close();
    const got = [];
    new f.StreamReader(sink.toBuffer(), new f.ChecksumDeframer(c)).processAll((p) => {
      got.push(Buffer.from(p));
    });
    check(
      `${c.name}: 100 frames written and read back`,
      got.length === 100 && got.every((p, i) => p.equals(sent[i])),
      `${got.length} frames`,
    );
  }

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flatstream-smoke-'));
  const file = path.join(dir, 'events.fst');
  const sink = new f.CaptureSink(file, { stagingPath: path.join(dir, 'events.staging') });
  // The claims (flock; LockFileEx on Windows): one live sink per stream, one
  // stream per staging file.
  const refusal = (fn) => {
    try {
      fn().closeSync();
      return 'opened';
    } catch (err) {
      return `${err.name} ${err.systemCode}`;
    }
  };
  const otherStaging = refusal(
    () => new f.CaptureSink(file, { stagingPath: path.join(dir, 'other.staging') }),
  );
  check(
    'CaptureSink: a second sink on the stream is refused',
    otherStaging === 'IoError EBUSY',
    otherStaging,
  );
  const sameStaging = refusal(
    () =>
      new f.CaptureSink(path.join(dir, 'other.fst'), {
        stagingPath: path.join(dir, 'events.staging'),
      }),
  );
  check(
    'CaptureSink: a second stream on the staging is refused',
    sameStaging === 'IoError EBUSY',
    sameStaging,
  );
  const w = new f.StreamWriter(sink, new f.ChecksumFramer(f.Crc32c));
  for (let i = 0; i < 1000; i++) w.writePayload(Buffer.from(`event ${i}`));
  w.close();
  await w.finished();
  const back = [];
  new f.StreamReader(fs.readFileSync(file), new f.ChecksumDeframer(f.Crc32c)).processAll((p) => {
    back.push(Buffer.from(p).toString());
  });
  check(
    'CaptureSink: 1000 frames captured to a file and read back',
    back.length === 1000 && back[0] === 'event 0' && back[999] === 'event 999',
    `${back.length} frames`,
  );
  const staging = path.join(dir, 'events.staging');
  if (process.platform === 'win32') {
    // Windows cannot remove a file while it is mapped (JS may still hold the
    // slabs): what stays at the path has its header marked clean (offset
    // 48), and the next open reuses it (docs/design.md, "Platforms").
    const clean = fs.existsSync(staging) ? fs.readFileSync(staging).readUInt32LE(48) : 'removed';
    check(
      'CaptureSink: a clean close removes the staging or marks it clean (win32)',
      clean === 'removed' || clean === 1,
      `clean=${clean}`,
    );
  } else {
    check('CaptureSink: a clean close removes the staging file', !fs.existsSync(staging));
  }
  const again = new f.StreamWriter(
    new f.CaptureSink(file, { stagingPath: staging }),
    new f.ChecksumFramer(f.Crc32c),
  );
  for (let i = 1000; i < 2000; i++) again.writePayload(Buffer.from(`event ${i}`));
  again.close();
  await again.finished();
  const all = [];
  new f.StreamReader(fs.readFileSync(file), new f.ChecksumDeframer(f.Crc32c)).processAll((p) => {
    all.push(Buffer.from(p).toString());
  });
  check(
    'CaptureSink: reopened, it appends after the 1000 frames',
    all.length === 2000 && all.every((p, i) => p === `event ${i}`),
    `${all.length} frames`,
  );
  try {
    fs.rmSync(dir, { recursive: true, force: true });
  } catch {
    // Windows: a staging still mapped by collectable slabs cannot go yet.
  }
}

main()
  .catch((err) => check('no exception', false, err && err.stack ? err.stack : String(err)))
  .finally(() => {
    console.log(`smoke: ${passed} passed, ${failed} failed`);
    process.exitCode = failed ? 1 : 0;
  });
