/**
 * mapFile: a whole regular file as one zero-copy `Uint8Array` over a
 * read-only memory mapping (native/file_map.h; docs/design.md, "Reading files"). Its payload
 * views stay valid for as long as they are referenced, with no copy. It is
 * not much faster than reading: on a warm 1 GiB file a map + full scan takes
 * 8% less time than `readSync` into a 4 MiB slab, and unmapping later costs
 * about as much (bench/results/2026-11-28-file-read.md).
 *
 * Where mapping is not possible — no native addon, a host that forbids
 * external ArrayBuffers (Electron's V8 sandbox), a platform without mmap —
 * {@link mapFile} returns `null` and the caller reads the file instead.
 */
import { constants } from 'node:buffer';
import { checkInteger } from './args';
import { nativeExport } from './backend';

/** Bits of the binding's `flags` (native/binding/file_map.cc). @internal */
export const MapFlag = {
  /** madvise(MADV_SEQUENTIAL). */
  Sequential: 1,
  /** MAP_POPULATE (Linux): fault every page in at map time. */
  Populate: 2,
} as const;

/**
 * What mapFile uses, as measured by bench/file-read.mjs (1 GiB warm file,
 * 2-core VM): MAP_POPULATE made a map + full scan 25% slower (11.9 against
 * 15.9 GB/s) and gained nothing on a cold file; MADV_SEQUENTIAL is neutral
 * on a warm file (15.9 against 15.7 GB/s) and asks the kernel for
 * sequential read-ahead on a cold one. @internal
 */
export const DEFAULT_MAP_FLAGS = MapFlag.Sequential;

/** native/binding/file_map.cc. @internal */
export type NativeMapFile = (fd: number, maxLength: number, flags: number) => ArrayBuffer | null;

function nativeMapFile(): NativeMapFile | null {
  const fn = nativeExport('mapFile');
  return typeof fn === 'function' && nativeExport('mapFileSupported') === true
    ? (fn as NativeMapFile)
    : null;
}

const binding = nativeMapFile();

/** True when {@link mapFile} can map files here (it may still return null in a sandboxed host). */
export const mapFileSupported: boolean = binding !== null;

/**
 * Maps the whole regular file open on `fd` read-only and returns its bytes,
 * or `null` when this process cannot map files (no native addon, external
 * ArrayBuffers forbidden by the host, no mmap on the platform): read the file
 * instead then. An empty file gives an empty array. `fd` must be open for
 * reading and may be closed right after the call; the mapping stays.
 *
 * The bytes stay valid for as long as the array (or any view of its
 * `buffer`) is referenced; the mapping is released after it is garbage
 * collected. Nothing is copied: pages come from the OS page cache on first
 * access.
 *
 * **SIGBUS hazard.** If another process truncates the file while it is
 * mapped, touching a byte past the new end raises SIGBUS, which kills the
 * whole process; no exception can catch it. Map only files that nobody
 * truncates while you read them (your own closed logs, archives); for files
 * another process may truncate or rewrite, read them with `fs.read` instead
 * (the reader's read()-based source). Bytes that another process writes
 * into the file in place are visible through the mapping.
 *
 * Throws a Node-style system error (`code`, `errno`, `syscall`, as `fs`
 * throws) when the file cannot be mapped: `EBADF` for a closed fd, `ENODEV`
 * for a pipe, socket, device or directory, `EACCES` for an fd not open for
 * reading, `EFBIG` for a file larger than `buffer.constants.MAX_LENGTH`.
 *
 * @example
 * ```ts
 * const fd = fs.openSync('events.bin', 'r');
 * let bytes: Uint8Array;
 * try {
 *   bytes = mapFile(fd) ?? fs.readFileSync(fd);
 * } finally {
 *   fs.closeSync(fd);
 * }
 * new StreamReader(bytes, new ChecksumDeframer(XxHash64)).processAll((payload) => {
 *   handle(payload);
 * });
 * ```
 */
export function mapFile(fd: number): Uint8Array | null {
  checkInteger(fd, 'fd', 0, 2 ** 31 - 1);
  if (binding === null) return null;
  const ab = binding(fd, constants.MAX_LENGTH, DEFAULT_MAP_FLAGS);
  return ab === null ? null : new Uint8Array(ab);
}
