/**
 * compileSchema: a binary schema (`.bfbs`) in, per-table codecs out, built
 * in memory from the generator's source text (docs/design.md
 * "Schema-compiled codecs"). The same text is what `flatstream gen` writes.
 *
 * Owns: the public codec types (TableCodec, TableView, CompiledSchema).
 * Imports: lib/codec/reflection, lib/codec/generate, lib/format.
 */
import { createHash } from 'node:crypto';
import { checkBytes, checkOptions, typeError } from '../format/args';
import type { PayloadDecoder, PayloadView } from '../format/decoder';
import type { PayloadEncoder } from '../format/encoder';
import { FlatStreamError } from '../format/errors';
import { generate } from './generate';
import { Base, readSchema } from './reflection';

/**
 * A reused flyweight over one table: accessor methods named after the
 * fields in lowerCamel case, as flatc's TS (`deviceId()`); 64-bit integers
 * also as `deviceIdNumber()` (a number, exact up to 2^53); vectors as
 * `tags(i)` and `tagsLength()`. A nested table, struct or union member is
 * itself a reused flyweight, rebound on every call.
 */
export interface TableView extends PayloadView {
  /** A plain object of every field (64-bit integers as bigint; absent non-scalars as null). */
  toObject(): Record<string, unknown>;
}

/**
 * The codec of one table: encodes plain objects (lowerCamel keys) in place
 * and decodes through a reused {@link TableView}.
 */
export interface TableCodec<T = Record<string, unknown>, V extends TableView = TableView>
  extends PayloadEncoder<T>, PayloadDecoder<V> {
  /** The table's fully qualified name, e.g. `'events.Telemetry'`. */
  readonly name: string;
  /** Encodes `value` into a new Uint8Array of exactly its size (for tools and tests). */
  encode(value: T): Uint8Array;
  /** A new view bound to the message at `payload[at]` (for tools and tests; readers reuse one). */
  view(payload: Uint8Array, at?: number): V;
  /** `view(payload).toObject()`. */
  decode(payload: Uint8Array, at?: number): Record<string, unknown>;
}

/** What {@link compileSchema} returns. */
export interface CompiledSchema {
  /** The namespace of the root type (`'events'`), or `''`. */
  readonly namespace: string;
  /** The root table's fully qualified name, or null when the schema has none and none was asked for. */
  readonly rootType: string | null;
  /** The schema's `file_identifier` (written by the root's encoder), or `''`. */
  readonly fileIdentifier: string;
  /** SHA-256 of the `.bfbs`, hex. */
  readonly hash: string;
  /** Every table's codec by fully qualified name. */
  readonly tables: Readonly<Record<string, TableCodec>>;
  /** The root table's codec, or null. */
  readonly root: TableCodec | null;
  /** Every enum and union as name → value, by fully qualified name. */
  readonly enums: Readonly<Record<string, Readonly<Record<string, number | bigint>>>>;
  /** The generated JS (what `flatstream gen` writes, typed). */
  readonly source: string;
}

/** Options of {@link compileSchema}. */
export interface CompileOptions {
  /** The table whose encoder writes the file identifier (default: the schema's `root_type`). */
  rootType?: string;
}

type Encode = (
  value: unknown,
  buf: Uint8Array,
  view: DataView,
  at: number,
  limit: number,
) => number;
interface Module {
  tables: { name: string; encodeInto: Encode; View: new () => TableView }[];
}

/** Sizes tried by sizeOf/encode: doubling from 256 bytes up to the wire's bound. */
const MAX_PAYLOAD = 2 ** 32 - 1;

function makeCodec(name: string, encodeInto: Encode, View: new () => TableView): TableCodec {
  const sizeOf = (value: unknown): number => {
    for (let n = 256; ; n *= 2) {
      const buf = new Uint8Array(Math.min(n, MAX_PAYLOAD));
      const end = encodeInto(value, buf, new DataView(buf.buffer), 0, buf.length);
      if (end >= 0) return end;
      if (buf.length >= MAX_PAYLOAD)
        throw Object.assign(
          new RangeError(`${name}: the message is larger than ${MAX_PAYLOAD} bytes`),
          {
            code: 'ERR_OUT_OF_RANGE',
          },
        );
    }
  };
  const view = (payload: Uint8Array, at = 0): TableView => {
    checkBytes(payload, 'payload');
    return new View().$bind(
      payload,
      new DataView(payload.buffer, payload.byteOffset, payload.byteLength),
      at,
    );
  };
  return Object.freeze({
    name,
    encodeInto,
    sizeOf,
    createView: () => new View(),
    encode(value: unknown): Uint8Array {
      const buf = new Uint8Array(sizeOf(value));
      encodeInto(value, buf, new DataView(buf.buffer), 0, buf.length);
      return buf;
    },
    view,
    decode: (payload: Uint8Array, at = 0) => view(payload, at).toObject(),
  });
}

/**
 * Compiles a binary schema (`flatc -b --schema x.fbs` → `x.bfbs`) into
 * codecs, in memory. Throws `FlatStreamError` (`ERR_FLATSTREAM_SCHEMA`)
 * for a malformed `.bfbs` or a feature the codecs do not support (naming
 * the feature and the field).
 *
 * @example
 * ```ts
 * const { tables } = compileSchema(readFileSync('events.bfbs'));
 * const Telemetry = tables['events.Telemetry'];
 * const end = Telemetry.encodeInto({ deviceId: 7, timestamp: 1n, value: 0.5 }, buf, view, 0, buf.length);
 * ```
 */
export function compileSchema(bfbs: Uint8Array, options?: CompileOptions): CompiledSchema {
  checkBytes(bfbs, 'bfbs');
  checkOptions(options, 'options');
  const rootOpt = options?.rootType;
  if (rootOpt !== undefined && typeof rootOpt !== 'string')
    throw typeError('The "rootType" option must be a string');
  const schema = readSchema(bfbs);
  let rootIndex = schema.rootTable;
  if (rootOpt !== undefined) {
    rootIndex = schema.objects.findIndex((o) => o.name === rootOpt && !o.isStruct);
    if (rootIndex < 0)
      throw new FlatStreamError(
        `rootType ${rootOpt} is not a table of the schema`,
        'ERR_FLATSTREAM_SCHEMA',
      );
  }
  const gen = generate(schema, rootIndex);
  const mod = new Function(gen.source)() as Module;
  const tables: Record<string, TableCodec> = {};
  for (const t of mod.tables) tables[t.name] = makeCodec(t.name, t.encodeInto, t.View);
  const rootType = rootIndex >= 0 ? schema.objects[rootIndex]!.name : null;
  const enums: Record<string, Record<string, number | bigint>> = {};
  for (const e of schema.enums) {
    const m: Record<string, number | bigint> = {};
    const wide = e.underlying.base === Base.Long || e.underlying.base === Base.ULong;
    for (const v of e.values) m[v.name] = wide ? v.value : Number(v.value);
    enums[e.name] = Object.freeze(m);
  }
  return Object.freeze({
    namespace:
      rootType && rootType.includes('.') ? rootType.slice(0, rootType.lastIndexOf('.')) : '',
    rootType,
    fileIdentifier: schema.fileIdent,
    hash: createHash('sha256').update(bfbs).digest('hex'),
    tables: Object.freeze(tables),
    root: rootType ? tables[rootType]! : null,
    enums: Object.freeze(enums),
    source: gen.source,
  });
}
