// Child of test/header.test.ts, run inside a private mount namespace with a
// 128 KiB tmpfs at argv[2]: a header larger than the space fails its write.
// Prints one JSON line of what it saw.
const fs = require('node:fs');
const path = require('node:path');
const f = require('../dist/cjs/index.js');
const dir = process.argv[2];
const file = path.join(dir, 'h.fst');
const out = {};
const before = fs.readdirSync('/proc/self/fd').length;
try {
  new f.StreamWriter(file, new f.ChecksumFramer(f.Crc32), {
    header: { schema: Buffer.alloc(200 * 1024, 7) },
  });
  out.error = null;
} catch (e) {
  out.error = { name: e.name, code: e.code };
}
out.fdsLeaked = fs.readdirSync('/proc/self/fd').length - before;
out.size = fs.statSync(file).size;
// The file is an empty stream again: a smaller header starts it.
const w = new f.StreamWriter(file, new f.ChecksumFramer(f.Crc32), { header: { rootType: 'a.B' } });
w.writePayload(Buffer.from('after'));
w.close();
const r = f.StreamReader.open(file);
out.rootType = r.header && r.header.rootType;
out.messages = [...r.messages()].map((p) => Buffer.from(p).toString());
process.stdout.write(`${JSON.stringify(out)}\n`);
