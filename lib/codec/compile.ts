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
import { Base, type RSchema, readSchema } from './reflection';

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
  /** {@link toObject} for `JSON.stringify`: 64-bit integers as decimal strings, bytes as arrays. */
  toJSON(): unknown;
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

interface Module {
  tables: TableCodec[];
}

function load(
  bfbs: Uint8Array,
  options: CompileOptions | undefined,
): { schema: RSchema; rootIndex: number; rootType: string | null } {
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
  return { schema, rootIndex, rootType: rootIndex >= 0 ? schema.objects[rootIndex]!.name : null };
}

const hashOf = (bfbs: Uint8Array): string => createHash('sha256').update(bfbs).digest('hex');
const namespaceOf = (rootType: string | null): string =>
  rootType && rootType.includes('.') ? rootType.slice(0, rootType.lastIndexOf('.')) : '';

/**
 * The TS module `flatstream gen` writes for a binary schema: the same
 * generated code as {@link compileSchema}'s, typed, exporting each table's
 * codec (by its short name), its value and view types, and `schema` (the
 * identity). `source` names the input in the header comment.
 */
export function generateModule(bfbs: Uint8Array, source: string, options?: CompileOptions): string {
  const { schema, rootIndex, rootType } = load(bfbs, options);
  return generate(schema, rootIndex, {
    ts: true,
    identity: {
      namespace: namespaceOf(rootType),
      rootType,
      fileIdentifier: schema.fileIdent,
      hash: hashOf(bfbs),
      source,
    },
  }).source;
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
  const { schema, rootIndex, rootType } = load(bfbs, options);
  const gen = generate(schema, rootIndex);
  const mod = new Function(gen.source)() as Module;
  const tables: Record<string, TableCodec> = {};
  for (const t of mod.tables) tables[t.name] = t;
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
    hash: hashOf(bfbs),
    tables: Object.freeze(tables),
    root: rootType ? tables[rootType]! : null,
    enums: Object.freeze(enums),
    source: gen.source,
  });
}
