import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { FileSink, type FileWriteError } from '../lib/sinks/file-sink';
import {
  ChecksumDeframer,
  ChecksumFramer,
  ClosedError,
  IoError,
  StreamWriter,
  XxHash64,
} from '../lib/index';
import { bytes, readAll, thrown } from './helpers';

// The signature FileSink calls writeSync with; the overloads of fs.writeSync
// make a typed mock awkward otherwise.
type WriteSync = (
  fd: number,
  buffer: Uint8Array,
  offset: number,
  length: number,
  position: null,
) => number;
const realWriteSync = fs.writeSync.bind(fs) as unknown as WriteSync;

/** Replaces fs.writeSync for `fd` only, so jest's own writes are untouched. */
function mockWrite(fd: number, impl: WriteSync): jest.SpyInstance {
  const mock: WriteSync = (f, buf, off, len, pos) =>
    f === fd ? impl(f, buf, off, len, pos) : realWriteSync(f, buf, off, len, pos);
  return jest.spyOn(fs, 'writeSync').mockImplementation(mock as unknown as typeof fs.writeSync);
}

/** An error shaped like the ones Node's fs throws. */
function sysError(code: 'EIO' | 'EAGAIN', syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: simulated, ${syscall}`), {
    code,
    errno: -os.constants.errno[code],
    syscall,
  });
}

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flatstream-file-sink-'));
});
afterEach(() => {
  jest.restoreAllMocks();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('FileSink: modes and bytes', () => {
  test('appends by default: an existing file is continued, not truncated', () => {
    const file = path.join(dir, 's.bin');
    fs.writeFileSync(file, Buffer.from('head'));
    const sink = new FileSink(file);
    sink.write(bytes(100, 1));
    sink.write(bytes(7, 2));
    expect(sink.bytesWritten).toBe(107);
    sink.close();
    expect(fs.readFileSync(file)).toEqual(
      Buffer.concat([Buffer.from('head'), bytes(100, 1), bytes(7, 2)]),
    );
  });

  test('append: false truncates the file first', () => {
    const file = path.join(dir, 's.bin');
    fs.writeFileSync(file, bytes(1000));
    const sink = new FileSink(file, { append: false });
    sink.write(bytes(10, 3));
    sink.close();
    expect(fs.readFileSync(file)).toEqual(bytes(10, 3));
  });

  test('creates a missing file with the given mode; accepts a file: URL', () => {
    const file = path.join(dir, 'new.bin');
    const sink = new FileSink(pathToFileURL(file), { mode: 0o600 });
    expect(sink.path).toBe(file);
    sink.write(bytes(5));
    sink.close();
    expect(fs.statSync(file).mode & 0o777).toBe(0o600 & ~process.umask());
    expect(fs.readFileSync(file)).toEqual(bytes(5));
  });

  test('frames written by a StreamWriter read back intact', () => {
    const file = path.join(dir, 'frames.bin');
    const payloads = [bytes(10, 1), bytes(3000, 2), bytes(0), bytes(70000, 3)];
    const w = new StreamWriter(new FileSink(file), new ChecksumFramer(XxHash64), {
      slabSize: 4096,
    });
    for (const p of payloads) w.writePayload(p);
    w.close();
    expect(readAll(fs.readFileSync(file), new ChecksumDeframer(XxHash64)).payloads).toEqual(
      payloads,
    );
  });
});

describe('FileSink: a path that is not a regular file', () => {
  // In a child with a timeout: the regression is an open() that never returns.
  test('a FIFO with no reader: IoError ENXIO at once, instead of blocking the thread', () => {
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const dist = path.join(__dirname, '..', 'dist', 'cjs', 'index.js');
    const out = execFileSync(
      process.execPath,
      [
        '-e',
        `const { FileSink } = require(${JSON.stringify(dist)});
         try { new FileSink(${JSON.stringify(fifo)}); console.log('opened'); }
         catch (e) { console.log(JSON.stringify([e.constructor.name, e.code, e.systemCode])); }`,
      ],
      { timeout: 20_000 },
    );
    expect(JSON.parse(out.toString())).toEqual(['IoError', 'ERR_FLATSTREAM_IO', 'ENXIO']);
  });

  test('a FIFO with a reader: frames go through it', async () => {
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const reader = spawn('cat', [fifo]);
    const chunks: Buffer[] = [];
    reader.stdout.on('data', (c: Buffer) => chunks.push(c));
    // cat opens the FIFO for reading asynchronously: retry until it has.
    let sink: FileSink | undefined;
    for (let i = 0; i < 200 && !sink; i++) {
      try {
        sink = new FileSink(fifo);
      } catch {
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    sink!.write(bytes(1000, 3));
    sink!.close();
    await once(reader, 'close');
    expect(Buffer.concat(chunks)).toEqual(bytes(1000, 3));
  });
});

describe('FileSink: fd ownership', () => {
  test('an fd passed in is written at its position and left open by close()', () => {
    const file = path.join(dir, 'fd.bin');
    const fd = fs.openSync(file, 'w');
    try {
      fs.writeSync(fd, Buffer.from('xy'));
      const sink = new FileSink(fd);
      expect(sink.path).toBeUndefined();
      sink.write(bytes(20));
      sink.close();
      sink.close();
      expect(sink.fd).toBe(fd);
      expect(() => fs.fstatSync(fd)).not.toThrow(); // still open
      expect(fs.readFileSync(file)).toEqual(Buffer.concat([Buffer.from('xy'), bytes(20)]));
    } finally {
      fs.closeSync(fd);
    }
  });

  test('autoClose: true makes close() close an fd passed in', () => {
    const fd = fs.openSync(path.join(dir, 'fd.bin'), 'w');
    const sink = new FileSink(fd, { autoClose: true });
    const close = jest.spyOn(fs, 'closeSync');
    sink.close();
    expect(close).toHaveBeenCalledWith(fd);
    expect(sink.fd).toBe(-1);
    expect(() => fs.fstatSync(fd)).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });

  test('a path is closed by close() unless autoClose: false', () => {
    const close = jest.spyOn(fs, 'closeSync');
    const owned = new FileSink(path.join(dir, 'a.bin'));
    const fd = owned.fd;
    owned.close();
    expect(close).toHaveBeenCalledWith(fd);
    expect(owned.fd).toBe(-1);

    close.mockClear();
    const kept = new FileSink(path.join(dir, 'b.bin'), { autoClose: false });
    kept.close();
    expect(close).not.toHaveBeenCalled();
    fs.closeSync(kept.fd); // ours to close now
  });

  test('append and mode are refused with an fd (it keeps the flags it was opened with)', () => {
    for (const options of [{ append: false }, { mode: 0o600 }]) {
      const e = thrown(() => new FileSink(1, options));
      expect(e).toBeInstanceOf(TypeError);
      expect(e.code).toBe('ERR_INVALID_ARG_VALUE');
    }
  });
});

describe('FileSink: flush, sync, close', () => {
  test('flush() needs nothing: the bytes are in the file as soon as write() returns', () => {
    const file = path.join(dir, 's.bin');
    const sink = new FileSink(file);
    sink.write(bytes(33));
    expect(fs.readFileSync(file)).toEqual(bytes(33)); // before flush
    sink.flush();
    sink.close();
  });

  test('sync() calls fsync on the fd; its failure is an IoError', () => {
    const sink = new FileSink(path.join(dir, 's.bin'));
    sink.write(bytes(3));
    const fsync = jest.spyOn(fs, 'fsyncSync');
    sink.sync();
    expect(fsync).toHaveBeenCalledWith(sink.fd);

    fsync.mockImplementation(() => {
      throw sysError('EIO', 'fsync');
    });
    const e = thrown(() => sink.sync());
    expect(e).toBeInstanceOf(IoError);
    expect(e).toMatchObject({
      systemCode: 'EIO',
      syscall: 'fsync',
      errno: -os.constants.errno.EIO,
    });
    expect(e.message).toContain(path.join(dir, 's.bin'));
    sink.close();
  });

  const hasDevFull = fs.existsSync('/dev/full');
  (hasDevFull ? test : test.skip)(
    'sync() on a device without fsync (EINVAL) is not an error',
    () => {
      const sink = new FileSink('/dev/full', { append: false });
      expect(() => sink.sync()).not.toThrow();
      sink.close();
    },
  );

  test('close() is idempotent; write, flush and sync after it are ClosedErrors', () => {
    const sink = new FileSink(path.join(dir, 's.bin'));
    sink.close();
    sink.close();
    expect(sink.closed).toBe(true);
    for (const op of [() => sink.write(bytes(1)), () => sink.flush(), () => sink.sync()]) {
      const e = thrown(op);
      expect(e).toBeInstanceOf(ClosedError);
      expect(e).toMatchObject({ code: 'ERR_FLATSTREAM_CLOSED', message: 'FileSink is closed' });
    }
  });

  test('a failing close is an IoError and the sink is closed regardless', () => {
    const sink = new FileSink(path.join(dir, 's.bin'));
    const fd = sink.fd;
    jest.spyOn(fs, 'closeSync').mockImplementationOnce(() => {
      throw sysError('EIO', 'close');
    });
    expect(thrown(() => sink.close())).toMatchObject({ systemCode: 'EIO', syscall: 'close' });
    expect(sink.closed).toBe(true);
    sink.close(); // no second attempt
    jest.restoreAllMocks();
    fs.closeSync(fd);
  });
});

describe('FileSink: failed and short writes', () => {
  const hasDevFull = fs.existsSync('/dev/full');
  (hasDevFull ? test : test.skip)(
    'ENOSPC from /dev/full is an IoError with errno, syscall and path',
    () => {
      const sink = new FileSink('/dev/full');
      const e = thrown(() => sink.write(bytes(100))) as unknown as FileWriteError;
      expect(e).toBeInstanceOf(IoError);
      expect(e).toMatchObject({
        code: 'ERR_FLATSTREAM_IO',
        systemCode: 'ENOSPC',
        syscall: 'write',
        errno: -os.constants.errno.ENOSPC,
        bytesWritten: 0,
      });
      expect(e.message).toContain("'/dev/full'");
      expect(e.message).toContain('after 0 of 100 bytes');
      expect((e.cause as NodeJS.ErrnoException).code).toBe('ENOSPC');
      sink.close();
    },
  );

  test('short writes are continued until the whole chunk is written', () => {
    const file = path.join(dir, 's.bin');
    const sink = new FileSink(file);
    const spy = mockWrite(sink.fd, (fd, buf, off, len, pos) =>
      realWriteSync(fd, buf, off, Math.min(len, 7), pos),
    );
    sink.write(bytes(50, 1));
    sink.write(bytes(3, 2));
    expect(spy).toHaveBeenCalledTimes(8 + 1);
    expect(sink.bytesWritten).toBe(53);
    sink.close();
    expect(fs.readFileSync(file)).toEqual(Buffer.concat([bytes(50, 1), bytes(3, 2)]));
  });

  test('EIO after a partial write: IoError with the bytes that reached the file; later writes refused', () => {
    const file = path.join(dir, 's.bin');
    const sink = new FileSink(file);
    sink.write(bytes(10, 1));
    let calls = 0;
    mockWrite(sink.fd, (fd, buf, off, len, pos) => {
      if (calls++ === 0) return realWriteSync(fd, buf, off, 5, pos);
      throw sysError('EIO', 'write');
    });
    const e = thrown(() => sink.write(bytes(40, 2))) as unknown as FileWriteError;
    expect(e).toBeInstanceOf(IoError);
    expect(e).toMatchObject({
      systemCode: 'EIO',
      errno: -os.constants.errno.EIO,
      syscall: 'write',
      bytesWritten: 5,
    });
    expect(e.message).toBe(
      `FileSink '${file}': write failed after 5 of 40 bytes: EIO: simulated, write`,
    );
    expect(sink.bytesWritten).toBe(15);
    // The file holds the earlier chunk and exactly the 5 bytes reported.
    expect(fs.readFileSync(file)).toEqual(
      Buffer.concat([bytes(10, 1), bytes(40, 2).subarray(0, 5)]),
    );

    jest.restoreAllMocks();
    const again = thrown(() => sink.write(bytes(1)));
    expect(again).toBeInstanceOf(IoError);
    expect(again.cause).toBe(e);
    expect(fs.statSync(file).size).toBe(15); // nothing appended after the torn chunk
    sink.close();
  });

  test('a write that makes no progress is an error, not an endless loop', () => {
    const sink = new FileSink(path.join(dir, 's.bin'));
    mockWrite(sink.fd, () => 0);
    const e = thrown(() => sink.write(bytes(4))) as unknown as FileWriteError;
    expect(e).toBeInstanceOf(IoError);
    expect(e.bytesWritten).toBe(0);
    sink.close();
  });

  test('EAGAIN is retried after a pause, and fails after eagainTimeout without progress', () => {
    const file = path.join(dir, 's.bin');
    const sink = new FileSink(file, { eagainTimeout: 40 });
    let calls = 0;
    mockWrite(sink.fd, (fd, buf, off, len, pos) => {
      calls++;
      if (calls === 1 || calls === 2 || calls === 4) throw sysError('EAGAIN', 'write');
      return realWriteSync(fd, buf, off, Math.min(len, 4), pos);
    });
    sink.write(bytes(8));
    expect(calls).toBe(5);
    expect(fs.readFileSync(file)).toEqual(bytes(8));

    jest.restoreAllMocks();
    mockWrite(sink.fd, () => {
      throw sysError('EAGAIN', 'write');
    });
    const start = performance.now();
    const e = thrown(() => sink.write(bytes(8))) as unknown as FileWriteError;
    expect(performance.now() - start).toBeGreaterThanOrEqual(35);
    expect(e).toMatchObject({ systemCode: 'EAGAIN', bytesWritten: 0 });
    sink.close();
  });

  test('eagainTimeout: 0 fails at the first EAGAIN', () => {
    const sink = new FileSink(path.join(dir, 's.bin'), { eagainTimeout: 0 });
    const spy = mockWrite(sink.fd, () => {
      throw sysError('EAGAIN', 'write');
    });
    expect(thrown(() => sink.write(bytes(8)))).toMatchObject({ systemCode: 'EAGAIN' });
    expect(spy).toHaveBeenCalledTimes(1);
    sink.close();
  });

  // Node makes the pipes of child processes non-blocking, so these are real
  // EAGAINs. The fd is read from the pipe's handle (internal, but stable).
  function pipeFd(stdin: unknown): number {
    return (stdin as { _handle: { fd: number } })._handle.fd;
  }

  test('a real non-blocking pipe: waits out EAGAIN while the reader catches up', async () => {
    const out = path.join(dir, 'out.bin');
    const data = bytes(4 << 20, 9); // far more than a pipe holds; made before the clock starts
    const outFd = fs.openSync(out, 'w');
    // The reader starts late, so the pipe is certainly full at first.
    const child = spawn('sh', ['-c', 'sleep 0.3; exec cat'], { stdio: ['pipe', outFd, 'inherit'] });
    fs.closeSync(outFd);
    const sink = new FileSink(pipeFd(child.stdin));
    let eagains = 0;
    mockWrite(sink.fd, (fd, buf, off, len, pos) => {
      try {
        return realWriteSync(fd, buf, off, len, pos);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') eagains++;
        throw e;
      }
    });
    for (let i = 0; i < data.length; i += 256 << 10) sink.write(data.subarray(i, i + (256 << 10)));
    sink.close();
    child.stdin!.end();
    await once(child, 'exit');
    expect(eagains).toBeGreaterThan(0); // the pipe really was full
    expect(fs.readFileSync(out).equals(data)).toBe(true);
  });

  test('a real non-blocking pipe nobody reads: EAGAIN after eagainTimeout, bytes reported', async () => {
    const child = spawn('sleep', ['5'], { stdio: ['pipe', 'ignore', 'inherit'] });
    try {
      const sink = new FileSink(pipeFd(child.stdin), { eagainTimeout: 50 });
      const e = thrown(() => sink.write(bytes(4 << 20))) as unknown as FileWriteError;
      expect(e).toMatchObject({ systemCode: 'EAGAIN', syscall: 'write' });
      expect(e.bytesWritten).toBeGreaterThan(0); // the pipe took what fit
      expect(e.bytesWritten).toBeLessThan(4 << 20);
      expect(sink.bytesWritten).toBe(e.bytesWritten);
    } finally {
      child.kill();
      await once(child, 'exit');
    }
  });
});

describe('FileSink: arguments', () => {
  test('bad arguments are TypeErrors and RangeErrors with Node codes', () => {
    const x = path.join(dir, 'x');
    const cases: Array<[() => unknown, ErrorConstructor, string]> = [
      [() => new FileSink(null as unknown as string), TypeError, 'ERR_INVALID_ARG_TYPE'],
      [() => new FileSink({} as unknown as string), TypeError, 'ERR_INVALID_ARG_TYPE'],
      [() => new FileSink(-1), RangeError, 'ERR_OUT_OF_RANGE'],
      [() => new FileSink(1.5), RangeError, 'ERR_OUT_OF_RANGE'],
      [() => new FileSink(x, 'a' as unknown as object), TypeError, 'ERR_INVALID_ARG_TYPE'],
      [
        () => new FileSink(x, { append: 'yes' as unknown as boolean }),
        TypeError,
        'ERR_INVALID_ARG_TYPE',
      ],
      [
        () => new FileSink(x, { autoClose: 1 as unknown as boolean }),
        TypeError,
        'ERR_INVALID_ARG_TYPE',
      ],
      [() => new FileSink(x, { mode: 0o10000 }), RangeError, 'ERR_OUT_OF_RANGE'],
      [
        () => new FileSink(x, { mode: '644' as unknown as number }),
        TypeError,
        'ERR_INVALID_ARG_TYPE',
      ],
      [() => new FileSink(x, { eagainTimeout: -1 }), RangeError, 'ERR_OUT_OF_RANGE'],
    ];
    for (const [fn, type, code] of cases) {
      const e = thrown(fn);
      expect(e).toBeInstanceOf(type);
      expect(e.code).toBe(code);
    }
    expect(fs.readdirSync(dir)).toEqual([]); // nothing was opened
  });

  test('write() rejects a non-Uint8Array chunk', () => {
    const sink = new FileSink(path.join(dir, 's.bin'));
    const e = thrown(() => sink.write('abc' as unknown as Uint8Array));
    expect(e).toBeInstanceOf(TypeError);
    expect(e.code).toBe('ERR_INVALID_ARG_TYPE');
    sink.close();
  });

  test('a path that cannot be opened is an IoError naming it', () => {
    const file = path.join(dir, 'missing', 's.bin');
    const e = thrown(() => new FileSink(file));
    expect(e).toBeInstanceOf(IoError);
    expect(e).toMatchObject({ systemCode: 'ENOENT', syscall: 'open' });
    expect(e.message).toContain(`'${file}'`);
  });
});
