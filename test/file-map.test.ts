import { constants } from 'node:buffer';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mapFile, mapFileSupported } from '../lib/file-map';
import { ChecksumDeframer, ChecksumFramer, XxHash64 } from '../lib/index';
import { MODE, bytes, readAll, thrown, writeAll } from './helpers';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flatstream-file-map-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Writes `data` to a new file and returns an fd open for reading. */
function fileWith(data: Uint8Array, name = 'data.bin'): number {
  const p = path.join(dir, name);
  fs.writeFileSync(p, data);
  return fs.openSync(p, 'r');
}

function withFd<T>(fd: number, fn: (fd: number) => T): T {
  try {
    return fn(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** A pipe's read end, as an fd. */
function pipeFd(): { fd: number; close(): void } {
  // /proc/self/fd of a child's stdin would do too; a FIFO is simplest and portable to macOS.
  const fifo = path.join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const fd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  return { fd, close: () => fs.closeSync(fd) };
}

describe(`mapFile (${MODE})`, () => {
  test('is supported exactly when the addon is in use (on POSIX)', () => {
    expect(mapFileSupported).toBe(MODE === 'native' && process.platform !== 'win32');
  });

  test('checks its argument in both modes', () => {
    expect(thrown(() => mapFile('3' as unknown as number)).code).toBe('ERR_INVALID_ARG_TYPE');
    expect(thrown(() => mapFile(-1)).code).toBe('ERR_OUT_OF_RANGE');
    expect(thrown(() => mapFile(1.5)).code).toBe('ERR_OUT_OF_RANGE');
  });

  if (MODE === 'fallback') {
    test('returns null for a file and for a pipe: the caller reads instead', () => {
      withFd(fileWith(bytes(1000)), (fd) => expect(mapFile(fd)).toBeNull());
      const p = pipeFd();
      try {
        expect(mapFile(p.fd)).toBeNull();
      } finally {
        p.close();
      }
    });
    return;
  }

  test('maps the exact bytes of a file whose size is not a multiple of the page size', () => {
    const data = bytes(3 * 4096 + 123, 5);
    const mapped = withFd(fileWith(data), (fd) => mapFile(fd));
    // The fd is closed: the mapping outlives it.
    expect(mapped).toBeInstanceOf(Uint8Array);
    expect(mapped!.length).toBe(data.length);
    expect(Buffer.from(mapped!).equals(data)).toBe(true);
    expect(mapped!.byteOffset).toBe(0);
    expect(mapped!.buffer.byteLength).toBe(data.length);
  });

  test('an empty file maps to an empty array', () => {
    const mapped = withFd(fileWith(new Uint8Array(0)), (fd) => mapFile(fd));
    expect(mapped).toBeInstanceOf(Uint8Array);
    expect(mapped!.length).toBe(0);
  });

  test('a StreamReader reads the frames of a mapped file', () => {
    const payloads = Array.from({ length: 300 }, (_, i) => bytes((i * 37) % 2000, i + 1));
    const stream = writeAll(new ChecksumFramer(XxHash64), payloads);
    const mapped = withFd(fileWith(stream), (fd) => mapFile(fd))!;
    const { payloads: got } = readAll(mapped, new ChecksumDeframer(XxHash64));
    expect(got.length).toBe(payloads.length);
    expect(got.every((g, i) => g.equals(payloads[i]!))).toBe(true); // toEqual on Buffers is slow
  });

  test('bytes written into the file in place are visible through the mapping', () => {
    const p = path.join(dir, 'shared.bin');
    fs.writeFileSync(p, bytes(8192));
    const mapped = withFd(fs.openSync(p, 'r'), (fd) => mapFile(fd))!;
    withFd(fs.openSync(p, 'r+'), (fd) => fs.writeSync(fd, Buffer.from('flatstream'), 0, 10, 4000));
    expect(Buffer.from(mapped.subarray(4000, 4010)).toString()).toBe('flatstream');
  });

  test('a pipe is refused with ENODEV, as fs reports system errors', () => {
    const p = pipeFd();
    let e: Error & Record<string, unknown>;
    try {
      e = thrown(() => mapFile(p.fd));
    } finally {
      p.close();
    }
    expect(e.code).toBe('ENODEV');
    expect(e.errno).toBe(-os.constants.errno.ENODEV);
    expect(e.syscall).toBe('mmap');
    expect(e.message).toBe('ENODEV: not a regular file, mmap');
  });

  test('a directory is refused with ENODEV', () => {
    const fd = fs.openSync(dir, 'r');
    withFd(fd, () => expect(thrown(() => mapFile(fd)).code).toBe('ENODEV'));
  });

  test('a closed fd is EBADF from fstat', () => {
    const fd = fileWith(bytes(10));
    fs.closeSync(fd);
    const e = thrown(() => mapFile(fd));
    expect(e.code).toBe('EBADF');
    expect(e.errno).toBe(-os.constants.errno.EBADF);
    expect(e.syscall).toBe('fstat');
  });

  test('an fd open only for writing is EACCES', () => {
    const p = path.join(dir, 'w.bin');
    fs.writeFileSync(p, bytes(100));
    withFd(fs.openSync(p, 'w'), (fd) => {
      fs.writeSync(fd, bytes(100));
      const e = thrown(() => mapFile(fd));
      expect(e.code).toBe('EACCES');
      expect(e.syscall).toBe('mmap');
    });
  });

  test('a file larger than buffer.constants.MAX_LENGTH is EFBIG', () => {
    if (constants.MAX_LENGTH > 2 ** 40) return; // Node 22+: no such file fits on a test disk
    const p = path.join(dir, 'sparse.bin');
    fs.closeSync(fs.openSync(p, 'w'));
    fs.truncateSync(p, constants.MAX_LENGTH + 1); // sparse: no disk space used
    withFd(fs.openSync(p, 'r'), (fd) => {
      const e = thrown(() => mapFile(fd));
      expect(e.code).toBe('EFBIG');
      expect(e.syscall).toBe('mmap');
    });
  });

  test('the mapping is counted as external memory and released after the array is collected', () => {
    if (process.platform !== 'linux') return; // reads /proc/self/maps
    // A fresh process with --expose-gc and the addon itself (ts-jest cannot run lib/ there).
    // Node runs the finalizer in an event-loop turn after the collection: poll.
    const script = `
      const fs = require('node:fs');
      const addon = require('node-gyp-build')(${JSON.stringify(path.join(__dirname, '..'))});
      const file = process.argv[1];
      const mapped = () => fs.readFileSync('/proc/self/maps', 'utf8').includes(file);
      gc();
      const before = process.memoryUsage().external;
      const fd = fs.openSync(file, 'r');
      let ab = addon.mapFile(fd, 2 ** 32, 1);
      fs.closeSync(fd);
      const out = { size: ab.byteLength, mappedWhileHeld: mapped(),
                    externalGrowth: process.memoryUsage().external - before };
      ab = null;
      let turns = 0;
      (function poll() {
        gc();
        if (mapped() && ++turns < 100) return setTimeout(poll, 5);
        out.mappedAfterGc = mapped();
        out.externalAfterGc = process.memoryUsage().external - before;
        console.log(JSON.stringify(out));
      })();`;
    const file = path.join(dir, 'gc.bin');
    fs.writeFileSync(file, bytes(1 << 20));
    const out = JSON.parse(
      execFileSync(process.execPath, ['--expose-gc', '-e', script, file], {
        env: process.env,
      }).toString(),
    );
    expect(out.size).toBe(1 << 20);
    expect(out.mappedWhileHeld).toBe(true);
    expect(out.externalGrowth).toBeGreaterThan(0.9 * (1 << 20)); // give or take other small buffers
    expect(out.mappedAfterGc).toBe(false);
    expect(out.externalAfterGc).toBeLessThan(0.1 * (1 << 20));
  });
});
