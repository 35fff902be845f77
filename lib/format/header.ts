/**
 * The opt-in stream header (docs/design.md, "Stream header"): frame 0 of a
 * stream, written with the stream's own framer, whose payload is a
 * FlatBuffer of lib/format/header.fbs (file identifier `FSH1`). It is an
 * ordinary frame: a reader that does not know headers (flatstream-rs) reads
 * it as one more payload.
 *
 * Owns: the header's encoding and decoding, its detection on a stream's
 * first bytes, the wrong-checksum hint of frame-0 errors, the append check.
 * Imports: flatbuffers (Builder), format (args, checksum, errors, framing).
 */
import { Builder } from 'flatbuffers';
import { checkBytes, checkOptions, typeError } from './args';
import { type BuiltinChecksum, type Checksum, checksums } from './checksum';
import { FormatMismatchError, HeaderError } from './errors';
import { Deframer, type Framer } from './framing';

/** The header format version this library writes and reads. */
export const HEADER_VERSION = 1;
/** The header payload's FlatBuffers file identifier. */
export const HEADER_IDENTIFIER = 'FSH1';
/** The largest header frame a reader looks at (payload bytes): 16 MiB, room for a big `.bfbs`. */
export const MAX_HEADER_LEN = 16 << 20;

/** What a writer puts in a header (the `header` option). */
export interface HeaderOptions {
  /** The payloads' schema as a `.bfbs` (flatc `--binary --schema`), stored with its XXH3-64. */
  schema?: Uint8Array;
  /** The payloads' root table, fully qualified (e.g. `'events.Telemetry'`). */
  rootType?: string;
  /** User key/values, stored in insertion order. */
  meta?: Record<string, string>;
  /** Who writes the stream (default `'flatstream-js'`). */
  writer?: string;
  /** The writer's version (default: none). */
  writerVersion?: string;
}

/** A decoded header (`reader.header`). */
export interface StreamHeader {
  /** Header format version (1). */
  version: number;
  /** The checksum of every frame, by name (`'none'`, `'crc32'`, `'xxhash64'`, …). */
  checksum: string;
  /** The root table, or undefined. */
  rootType: string | undefined;
  /** The `.bfbs`, or undefined. */
  schema: Uint8Array | undefined;
  /** XXH3-64 of the `.bfbs` (0n without one). */
  schemaHash: bigint;
  writer: string | undefined;
  writerVersion: string | undefined;
  /** Unix time in ms when the header was written. */
  createdMs: number;
  /** User key/values. */
  meta: Record<string, string>;
}

function checkString(v: unknown, name: string): void {
  if (v !== undefined && typeof v !== 'string')
    throw typeError(`The "${name}" option must be of type string. Received type ${typeof v}`);
}

/** Checks a `header` option the Node way. */
export function checkHeaderOptions(h: unknown): asserts h is HeaderOptions {
  checkOptions(h, 'header');
  const o = h as HeaderOptions;
  if (o.schema !== undefined) checkBytes(o.schema, 'header.schema');
  checkString(o.rootType, 'header.rootType');
  checkString(o.writer, 'header.writer');
  checkString(o.writerVersion, 'header.writerVersion');
  if (o.meta !== undefined) {
    if (typeof o.meta !== 'object' || o.meta === null)
      throw typeError('The "header.meta" option must be an object of strings');
    for (const [k, v] of Object.entries(o.meta)) checkString(v, `header.meta.${k}`);
  }
}

/** The header payload (a FlatBuffer with identifier `FSH1`) for a stream framed with `checksum`. */
export function encodeHeader(
  checksum: Checksum,
  h: HeaderOptions,
  createdMs = Date.now(),
): Uint8Array {
  checkHeaderOptions(h);
  const b = new Builder(256 + (h.schema?.length ?? 0));
  const str = (s: string | undefined): number => (s === undefined ? 0 : b.createString(s));
  const kvs = Object.entries(h.meta ?? {}).map(([k, v]) => {
    const ko = b.createString(k);
    const vo = b.createString(v);
    b.startObject(2);
    b.addFieldOffset(0, ko, 0);
    b.addFieldOffset(1, vo, 0);
    return b.endObject();
  });
  const meta = kvs.length === 0 ? 0 : offsetVector(b, kvs);
  const schema = h.schema === undefined ? 0 : b.createByteVector(h.schema);
  const cs = b.createString(checksum.name);
  const root = str(h.rootType);
  const writer = str(h.writer ?? 'flatstream-js');
  const version = str(h.writerVersion);
  b.startObject(9);
  b.addFieldInt16(0, HEADER_VERSION, 0);
  b.addFieldOffset(1, cs, 0);
  if (root) b.addFieldOffset(2, root, 0);
  if (schema) b.addFieldOffset(3, schema, 0);
  if (h.schema !== undefined) b.addFieldInt64(4, BigInt(checksums.xxhash64.compute(h.schema)), 0n);
  if (writer) b.addFieldOffset(5, writer, 0);
  if (version) b.addFieldOffset(6, version, 0);
  b.addFieldInt64(7, BigInt(createdMs), 0n);
  if (meta) b.addFieldOffset(8, meta, 0);
  b.finish(b.endObject(), HEADER_IDENTIFIER);
  return b.asUint8Array().slice();
}

function offsetVector(b: Builder, offsets: number[]): number {
  b.startVector(4, offsets.length, 4);
  for (let i = offsets.length - 1; i >= 0; i--) b.addOffset(offsets[i]!);
  return b.endVector();
}

/** The header frame (framed with `framer`) for `h`. */
export function headerFrame(framer: Framer, h: HeaderOptions): Buffer {
  return framer.frame(encodeHeader(framer.checksum, h));
}

/** True when `payload` carries the header's file identifier (it may still be malformed). */
export function isHeaderPayload(payload: Uint8Array): boolean {
  return (
    payload.length >= 8 &&
    payload[4] === 0x46 && // F
    payload[5] === 0x53 && // S
    payload[6] === 0x48 && // H
    payload[7] === 0x31 // 1
  );
}

/**
 * Decodes a header payload, checking every offset against its bounds (a
 * hostile payload is a {@link HeaderError}, never an out-of-bounds read).
 */
export function decodeHeader(payload: Uint8Array): StreamHeader {
  checkBytes(payload, 'payload');
  const p = payload;
  const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const bad = (why: string): HeaderError => new HeaderError(`malformed stream header: ${why}`);
  const need = (at: number, n: number, what: string): void => {
    if (at < 0 || n < 0 || at + n > p.length)
      throw bad(`${what} at ${at} (+${n}) is outside the ${p.length}-byte payload`);
  };
  if (!isHeaderPayload(p)) throw bad(`no "${HEADER_IDENTIFIER}" file identifier`);
  // A table: its vtable's fields, each bounds-checked.
  const table = (at: number, what: string): ((id: number) => number) => {
    need(at, 4, what);
    const vt = at - dv.getInt32(at, true);
    need(vt, 4, `${what}'s vtable`);
    const vtLen = dv.getUint16(vt, true);
    const objLen = dv.getUint16(vt + 2, true);
    if (vtLen < 4 || vtLen % 2 !== 0) throw bad(`${what}'s vtable length ${vtLen}`);
    need(vt, vtLen, `${what}'s vtable`);
    need(at, objLen, what);
    return (id: number): number => {
      const slot = 4 + 2 * id;
      if (slot + 2 > vtLen) return 0;
      const off = dv.getUint16(vt + slot, true);
      if (off !== 0 && off >= objLen) throw bad(`${what} field ${id} outside its table`);
      return off === 0 ? 0 : at + off;
    };
  };
  const deref = (field: number, what: string): number => {
    need(field, 4, what);
    const to = field + dv.getUint32(field, true);
    need(to, 4, what);
    return to;
  };
  const vec = (field: number, elem: number, what: string): [number, number] => {
    const at = deref(field, what);
    const n = dv.getUint32(at, true);
    need(at + 4, n * elem, what);
    return [at + 4, n];
  };
  const text = new TextDecoder('utf-8', { fatal: true });
  const string = (field: number, what: string): string | undefined => {
    if (field === 0) return undefined;
    const [at, n] = vec(field, 1, what);
    need(at, n + 1, `${what} (and its NUL)`);
    try {
      return text.decode(p.subarray(at, at + n));
    } catch {
      throw bad(`${what} is not UTF-8`);
    }
  };
  const root = table(deref(0, 'root'), 'StreamHeader');
  const vf = root(0);
  const version = vf === 0 ? 0 : (need(vf, 2, 'version'), dv.getUint16(vf, true));
  if (version !== HEADER_VERSION)
    throw new HeaderError(
      `stream header version ${version} is not supported (this flatstream reads version ${HEADER_VERSION})`,
    );
  const checksum = string(root(1), 'checksum');
  if (checksum === undefined) throw bad('no checksum name');
  let schema: Uint8Array | undefined;
  if (root(3) !== 0) {
    const [at, n] = vec(root(3), 1, 'schema');
    schema = p.slice(at, at + n);
  }
  const hf = root(4);
  const schemaHash = hf === 0 ? 0n : (need(hf, 8, 'schema_hash'), dv.getBigUint64(hf, true));
  if (schema !== undefined && BigInt(checksums.xxhash64.compute(schema)) !== schemaHash)
    throw bad('the schema does not match its schema_hash');
  const cf = root(7);
  const createdMs = cf === 0 ? 0 : (need(cf, 8, 'created_ms'), Number(dv.getBigInt64(cf, true)));
  const meta: Record<string, string> = {};
  if (root(8) !== 0) {
    const [at, n] = vec(root(8), 4, 'meta');
    for (let i = 0; i < n; i++) {
      const kv = table(deref(at + 4 * i, `meta[${i}]`), `meta[${i}]`);
      const k = string(kv(0), `meta[${i}].key`);
      const v = string(kv(1), `meta[${i}].value`);
      if (k === undefined) throw bad(`meta[${i}] has no key`);
      Object.defineProperty(meta, k, {
        value: v ?? '',
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }
  return {
    version,
    checksum,
    rootType: string(root(2), 'root_type'),
    schema,
    schemaHash,
    writer: string(root(5), 'writer'),
    writerVersion: string(root(6), 'writer_version'),
    createdMs,
    meta,
  };
}

/** The built-in checksums a header may name, by name; detection tries them in this order. */
const CANDIDATES: readonly BuiltinChecksum[] = [
  checksums.none,
  checksums.crc16,
  checksums.crc32,
  checksums.crc32c,
  checksums.xxhash64,
  checksums.crc64,
];

/** The built-in checksum named `name`, or undefined. */
export function checksumByName(name: string): BuiltinChecksum | undefined {
  return CANDIDATES.find((c) => c.name === name);
}

/** Frame 0 of `bytes` read with `c`: its payload if it is whole and verifies, else null. */
function frameZero(bytes: Uint8Array, c: BuiltinChecksum): Uint8Array | null {
  const w = c.width;
  if (bytes.length < 4 + w) return null;
  const len = (bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24)) >>> 0;
  if (len > bytes.length - 4 - w) return null;
  const payload = bytes.subarray(4 + w, 4 + w + len);
  if (w === 0) return payload;
  let stored = 0n;
  for (let i = w - 1; i >= 0; i--) stored = (stored << 8n) | BigInt(bytes[4 + i]!);
  return BigInt(c.compute(payload)) === stored ? payload : null;
}

/** A header found at a stream's start. */
export interface DetectedHeader {
  header: StreamHeader;
  /** The checksum the header names (and frame 0 verifies under). */
  checksum: BuiltinChecksum;
  /** Bytes of the header frame: where the first message frame starts. */
  frameLength: number;
}

/**
 * Looks for a header at the start of `bytes` (the stream's first bytes, at
 * least the whole header frame): tries each checksum width on frame 0 and
 * keeps the one under which frame 0 verifies, carries `FSH1` and names
 * that checksum. Null when the stream has no header; a {@link HeaderError}
 * when frame 0 is a header this library cannot read (another version, a
 * malformed payload).
 */
export function detectHeader(bytes: Uint8Array): DetectedHeader | null {
  checkBytes(bytes, 'bytes');
  let failure: HeaderError | null = null;
  for (const c of CANDIDATES) {
    const payload = frameZero(bytes, c);
    if (payload === null || !isHeaderPayload(payload)) continue;
    let header: StreamHeader;
    try {
      header = decodeHeader(payload);
    } catch (err) {
      if (err instanceof HeaderError) {
        failure ??= err;
        continue;
      }
      throw err;
    }
    if (header.checksum !== c.name) continue;
    return { header, checksum: c, frameLength: 4 + c.width + payload.length };
  }
  if (failure) throw failure;
  return null;
}

/**
 * Without a header: of crc16, crc32, crc32c, xxhash64, crc64, the one under
 * which the frames of `bytes` verify furthest from frame 0 (the widest,
 * then the first, on a tie), else none (a guess: docs/design.md, "Stream header").
 */
export function guessChecksum(bytes: Uint8Array): BuiltinChecksum {
  // Frame 0 alone can verify under several (an empty payload's CRCs are all
  // 0): the one that reads furthest into `bytes` wins.
  let best: BuiltinChecksum = checksums.none;
  let bestReach = 0;
  for (const c of CANDIDATES) {
    if (c.width === 0) continue;
    let at = 0;
    for (;;) {
      const payload = frameZero(bytes.subarray(at), c);
      if (payload === null) break;
      at += 4 + c.width + payload.length;
    }
    // On a tie the widest wins: if a narrower one were right, the wider one
    // verifying too would be the far less likely coincidence.
    if (at > bestReach || (at === bestReach && at > 0 && c.width > best.width)) {
      best = c;
      bestReach = at;
    }
  }
  return best;
}

/** The deframer a detected header calls for. */
export function headerDeframer(d: DetectedHeader, maxFrameLen?: number): Deframer {
  return new Deframer(d.checksum, maxFrameLen === undefined ? undefined : { maxFrameLen });
}

/**
 * For a frame-0 error without a header: the other built-in checksums under
 * which frame 0 of `bytes` verifies (a wrong checksum picked by the reader).
 * Widths 0 are never named: without a checksum any length "verifies".
 */
export function frameZeroHint(bytes: Uint8Array, tried: Checksum): string {
  const detected = (() => {
    try {
      return detectHeader(bytes);
    } catch {
      return null;
    }
  })();
  if (detected)
    return `; frame 0 is a flatstream header written with ${detected.checksum.name}: read it with that checksum or StreamReader.open()`;
  const fits = CANDIDATES.filter((c) => c.width > 0 && c !== tried && frameZero(bytes, c) !== null);
  if (fits.length === 0) return '';
  return `; frame 0 verifies as ${fits.map((c) => `${c.name} (${c.width}-byte checksum)`).join(' or ')}: the stream was probably written with ${fits.length === 1 ? 'that checksum' : 'one of those'}`;
}

/**
 * The append check: `bytes` are the first bytes of a non-empty file about to
 * be appended to with `framer`. A header naming another checksum is a
 * {@link FormatMismatchError}; so is a file without a header when the
 * writer asks for one (`wantHeader`), since its frames could not be told
 * apart from the header's checksum.
 */
export function checkAppend(
  bytes: Uint8Array,
  framer: Framer,
  wantHeader: boolean,
  where: string,
): void {
  const d = detectHeader(bytes);
  if (d) {
    if (d.checksum.name !== framer.checksum.name || framer.checksum !== d.checksum)
      throw new FormatMismatchError(
        `${where} has a stream header for ${d.checksum.name} frames; appending ${framer.checksum.name} frames would make it unreadable`,
        d.checksum.name,
        framer.checksum.name,
      );
    return;
  }
  if (wantHeader)
    throw new FormatMismatchError(
      `${where} is a non-empty stream without a header; a header can only start a stream (append without the header option, or write a new file)`,
      'unknown',
      framer.checksum.name,
    );
}
