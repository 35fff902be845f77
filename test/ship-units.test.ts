// The shipper's parts that need no server: the natural order of a rotation
// set, the checkpoint's encoding (a torn or edited one is never trusted),
// option checks, the lazily loaded NATS client (a clear typed error when it
// is not installed) and the command line's usage errors.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ChecksumFramer,
  JetStreamShipper,
  StreamWriter,
  XxHash64,
  batchMsgId,
  naturalCompare,
} from '../lib/index';
import { detectFormat } from '../lib/ship/files';
import {
  decodeCheckpoint,
  encodeCheckpoint,
  writeCheckpoint,
  readCheckpoint,
} from '../lib/ship/checkpoint';
import { CLI } from './ship-helpers';

const dir = fs.mkdtempSync(join(tmpdir(), 'flatstream-ship-units-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('naturalCompare: digit runs as numbers, then plain order (a total order)', () => {
  const names = [
    's.10.fst',
    's.2.fst',
    'b.fst',
    's.1.fst',
    's.02.fst',
    's.9.fst',
    's.fst',
    's.100000000000000000001.fst',
  ];
  expect([...names].sort(naturalCompare)).toEqual([
    'b.fst',
    's.1.fst',
    's.02.fst',
    's.2.fst',
    's.9.fst',
    's.10.fst',
    's.100000000000000000001.fst',
    's.fst',
  ]);
  expect(naturalCompare('a', 'a')).toBe(0);
});

test('batchMsgId: stream:file:fileId:offset:bytes', () => {
  expect(batchMsgId({ stream: 'h-1', file: 2, fileId: 'f9', offset: 30, bytes: 4096 })).toBe(
    'h-1:2:f9:30:4096',
  );
});

test('detectFormat: a file id of its own (header hash; else device, inode and birth time): another file at the same path, with the same bytes, has another id', async () => {
  const p = join(dir, 'ids.fst');
  const plain = Buffer.alloc(60);
  plain.writeUInt32LE(48, 0);
  plain.writeBigUInt64LE(XxHash64.compute(plain.subarray(12)), 4);
  fs.writeFileSync(p, plain);
  const a = await detectFormat(p, XxHash64, undefined);
  expect(a!.fileId).toMatch(/^[0-9a-f]{16}$/);
  expect((await detectFormat(p, XxHash64, undefined))!.fileId).toBe(a!.fileId); // the same file
  const keep = join(dir, 'ids.keep'); // held open elsewhere: the new file cannot reuse its inode
  fs.renameSync(p, keep);
  fs.writeFileSync(p, plain);
  expect((await detectFormat(p, XxHash64, undefined))!.fileId).not.toBe(a!.fileId);
  // Headed: the header frame's hash (each header has its own creation time).
  const h1 = join(dir, 'h1.fst');
  const h2 = join(dir, 'h2.fst');
  for (const f of [h1, h2]) {
    const w = new StreamWriter(f, new ChecksumFramer(XxHash64), { header: { rootType: 't.T' } });
    w.writePayload(new Uint8Array(48));
    w.close();
    await w.finished();
    await new Promise((r) => setTimeout(r, 2)); // another creation time (ms)
  }
  const f1 = (await detectFormat(h1, undefined, undefined))!;
  const f2 = (await detectFormat(h2, undefined, undefined))!;
  expect(f1.fileId).toBe(XxHash64.compute(f1.headerFrame!).toString(16).padStart(16, '0'));
  expect(f1.fileId).not.toBe(f2.fileId);
});

describe('checkpoint', () => {
  const cp = {
    stream: 'h-0123456789abcdef',
    file: 3,
    name: 'events.3.fst',
    offset: 123456,
    plan: [
      [3, 123456, 130000],
      [4, 116, 4000],
    ] as [number, number, number][],
  };

  test('round trip', () => {
    expect(decodeCheckpoint(encodeCheckpoint(cp))).toEqual({ state: 'ok', checkpoint: cp });
  });

  test('every truncation and every flipped byte reads as torn, never as a position', () => {
    const text = encodeCheckpoint(cp);
    for (let i = 0; i < text.length - 1; i++)
      expect(decodeCheckpoint(text.slice(0, i)).state).toBe('torn');
    for (let i = 0; i < text.length - 1; i++) {
      const c = text.charCodeAt(i);
      const flipped = text.slice(0, i) + String.fromCharCode(c ^ 1) + text.slice(i + 1);
      expect(decodeCheckpoint(flipped).state).toBe('torn');
    }
  });

  test('a checkpoint file larger than 1 MiB is torn, not read whole', () => {
    const p = join(dir, 'big.ship-checkpoint');
    fs.writeFileSync(p, Buffer.alloc((1 << 20) + 1, 0x20));
    expect(readCheckpoint(p)).toEqual({ state: 'torn', detail: 'larger than 1 MiB' });
  });

  test('written atomically: the file holds the new checkpoint, no temporary file is left', async () => {
    const p = join(dir, 'a.ship-checkpoint');
    expect(readCheckpoint(p)).toEqual({ state: 'missing' });
    await writeCheckpoint(p, cp);
    await writeCheckpoint(p, { ...cp, offset: 130000, plan: [] }, false);
    expect(readCheckpoint(p)).toEqual({
      state: 'ok',
      checkpoint: { ...cp, offset: 130000, plan: [] },
    });
    expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  test('two writes that overlap (a late ack at shutdown) both succeed, each through its own temporary file: the file holds one of them whole', async () => {
    const p = join(dir, 'overlap.ship-checkpoint');
    for (let i = 0; i < 20; i++) {
      const a = { ...cp, offset: 1000 + i, plan: [] };
      const b = {
        ...cp,
        offset: 2000 + i,
        plan: [[3, 2000 + i, 9000]] as [number, number, number][],
      };
      await Promise.all([writeCheckpoint(p, a, i % 2 === 0), writeCheckpoint(p, b, false)]);
      const r = readCheckpoint(p);
      expect(r.state).toBe('ok');
      expect([a, b]).toContainEqual((r as { checkpoint: unknown }).checkpoint);
    }
    expect(fs.readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
  });

  test('a write whose rename fails (a non-empty directory at the path) rejects and leaves no temporary file', async () => {
    const sub = join(dir, 'renamefails');
    fs.mkdirSync(join(sub, 'x.ship-checkpoint'), { recursive: true });
    fs.writeFileSync(join(sub, 'x.ship-checkpoint', 'keep'), '');
    await expect(writeCheckpoint(join(sub, 'x.ship-checkpoint'), cp)).rejects.toMatchObject({
      code: expect.stringMatching(/^(EISDIR|ENOTEMPTY|EEXIST)$/),
    });
    expect(fs.readdirSync(sub)).toEqual(['x.ship-checkpoint']);
  });
});

describe('JetStreamShipper options', () => {
  const ok = { servers: 'nats://127.0.0.1:1', subject: 's.a', path: join(dir, 'x.fst') };
  test.each([
    [{}, TypeError, 'ERR_INVALID_ARG_TYPE'],
    [{ ...ok, servers: [] }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    [{ ...ok, subject: 'a.*' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    [{ ...ok, subject: 'a b' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    [{ ...ok, checksum: 'md5' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    [{ ...ok, streamId: 'a b' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
    [{ ...ok, batchBytes: 10 }, RangeError, 'ERR_OUT_OF_RANGE'],
    [{ ...ok, inFlight: 0 }, RangeError, 'ERR_OUT_OF_RANGE'],
    [{ ...ok, backoff: { initialMs: 10, maxMs: 5 } }, RangeError, 'ERR_OUT_OF_RANGE'],
    [{ ...ok, match: '*.fst' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ])('%j is refused', (o, cls, code) => {
    expect(() => new JetStreamShipper(o as never)).toThrow(cls);
    try {
      new JetStreamShipper(o as never);
    } catch (e) {
      expect((e as { code: string }).code).toBe(code);
    }
  });

  test('run() twice: the second rejects with a TypeError', async () => {
    const ac = new AbortController();
    ac.abort();
    const s = new JetStreamShipper({ ...ok, signal: ac.signal });
    await s.run();
    await expect(s.run()).rejects.toThrow(TypeError);
  });
});

test('without the NATS client installed: run() rejects with NatsClientMissingError naming the packages', () => {
  fs.writeFileSync(join(dir, 'a.fst'), '');
  const hook = join(dir, 'no-nats.js');
  fs.writeFileSync(
    hook,
    `const M = require('module');
const resolve = M._resolveFilename;
M._resolveFilename = function (r, ...rest) {
  if (r.startsWith('@nats-io/')) {
    const e = new Error("Cannot find module '" + r + "'");
    e.code = 'MODULE_NOT_FOUND';
    throw e;
  }
  return resolve.call(this, r, ...rest);
};`,
  );
  const script = `const f = require(${JSON.stringify(join(__dirname, '..', 'dist', 'cjs', 'index.js'))});
new f.JetStreamShipper({ servers: 'nats://127.0.0.1:1', subject: 's.a', path: ${JSON.stringify(join(dir, 'a.fst'))} })
  .run().then(() => console.log('resolved'), (e) => console.log(e.name, e.code, e instanceof f.FlatStreamError, JSON.stringify(e.packages), e.message));`;
  const r = spawnSync(process.execPath, ['-r', hook, '-e', script], { encoding: 'utf8' });
  expect(r.stdout.trim()).toBe(
    'NatsClientMissingError ERR_FLATSTREAM_NATS_CLIENT_MISSING true ["@nats-io/transport-node","@nats-io/jetstream"] the NATS client is not installed: npm install @nats-io/transport-node @nats-io/jetstream (optional peer dependencies of flatstream, needed only for JetStream)',
  );
});

describe('flatstream ship usage', () => {
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  test('--help: exit 0, the usage on stdout', () => {
    const r = cli('ship', '--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(
      /^usage: flatstream ship FILE\|DIR --server nats:\/\/HOST:PORT --subject SUBJECT/,
    );
    expect(cli('--help').stdout).toMatch(/ship FILE\|DIR {2}publish the frames to NATS JetStream/);
  });
  test.each([
    [[], 'ship takes one FILE or DIR (got 0)'],
    [['x.fst', '--subject', 's'], '--server is required'],
    [['x.fst', '--server', 'nats://127.0.0.1:1'], '--subject is required'],
    [
      [join(dir, 'nosuch.fst'), '--server', 'nats://127.0.0.1:1', '--subject', 's'],
      'no such file or directory',
    ],
    [
      [join(dir, 'a.fst'), '--server', 'nats://127.0.0.1:1', '--subject', 's', '--in-flight', '0'],
      '--in-flight needs a positive integer',
    ],
    [
      [join(dir, 'a.fst'), '--server', 'nats://127.0.0.1:1', '--subject', 's', '--checksum', 'md5'],
      'The "checksum" option must be',
    ],
    [['x.fst', '--bogus'], 'unknown option --bogus'],
  ])('%j: exit 2 with %s', (args, message) => {
    fs.writeFileSync(join(dir, 'a.fst'), '');
    const r = cli('ship', ...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain('usage: flatstream ship');
  });
});
