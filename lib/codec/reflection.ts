/**
 * A reader of flatc's binary schemas (`flatc -b --schema x.fbs` → `x.bfbs`,
 * FlatBuffers' reflection tables), written by hand over a DataView so the
 * compiler needs neither flatc nor generated code at run time
 * (docs/design.md "Schema-compiled codecs"). Every offset is bounds-checked:
 * a malformed `.bfbs` is refused with a `FlatStreamError`
 * (`ERR_FLATSTREAM_SCHEMA`), never a crash or a hang (every loop is bounded
 * by a length read from, and checked against, the buffer).
 *
 * Owns: the reflection model (RSchema, RObject, RField, REnum, RType).
 * Imports: lib/format/errors.
 */
import { FlatStreamError } from '../format/errors';

/** reflection.BaseType. */
export const Base = {
  None: 0,
  UType: 1,
  Bool: 2,
  Byte: 3,
  UByte: 4,
  Short: 5,
  UShort: 6,
  Int: 7,
  UInt: 8,
  Long: 9,
  ULong: 10,
  Float: 11,
  Double: 12,
  String: 13,
  Vector: 14,
  Obj: 15,
  Union: 16,
  Array: 17,
} as const;

/** A field's or an element's type (reflection.Type). */
export interface RType {
  base: number;
  element: number;
  /** Index into objects (Obj) or enums (enum-typed scalars, unions); -1: none. */
  index: number;
  fixedLength: number;
}

export interface RField {
  name: string;
  type: RType;
  id: number;
  /** vtable offset (tables) or byte offset (structs). */
  offset: number;
  defaultInteger: bigint;
  defaultReal: number;
  deprecated: boolean;
  required: boolean;
  optional: boolean;
  attributes: ReadonlyMap<string, string>;
}

export interface RObject {
  name: string;
  fields: RField[];
  isStruct: boolean;
  minalign: number;
  bytesize: number;
  attributes: ReadonlyMap<string, string>;
}

export interface REnumVal {
  name: string;
  value: bigint;
  /** Unions: the member's type (Obj with an index, or String/Obj struct for advanced unions). */
  unionType: RType | null;
}

export interface REnum {
  name: string;
  values: REnumVal[];
  isUnion: boolean;
  underlying: RType;
  attributes: ReadonlyMap<string, string>;
}

export interface RSchema {
  objects: RObject[];
  enums: REnum[];
  fileIdent: string;
  /** Index into objects of `root_type`, or -1. */
  rootTable: number;
}

function malformed(what: string): FlatStreamError {
  return new FlatStreamError(`malformed .bfbs: ${what}`, 'ERR_FLATSTREAM_SCHEMA');
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

class Reader {
  readonly dv: DataView;
  readonly bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(pos: number, n: number, what: string): void {
    if (!Number.isInteger(pos) || pos < 0 || pos + n > this.bytes.length)
      throw malformed(`${what} at ${pos} is outside the ${this.bytes.length}-byte buffer`);
  }
  u8(p: number): number {
    this.need(p, 1, 'byte');
    return this.dv.getUint8(p);
  }
  u16(p: number): number {
    this.need(p, 2, 'u16');
    return this.dv.getUint16(p, true);
  }
  u32(p: number): number {
    this.need(p, 4, 'u32');
    return this.dv.getUint32(p, true);
  }
  i32(p: number): number {
    this.need(p, 4, 'i32');
    return this.dv.getInt32(p, true);
  }
  /** The table at `t`: its vtable's position and size, checked. */
  table(t: number, what: string): Table {
    if (t % 4 !== 0) throw malformed(`${what} table at ${t} is misaligned`);
    const vt = t - this.i32(t);
    const vsize = this.u16(vt);
    if (vsize < 4 || vsize % 2 !== 0) throw malformed(`${what} vtable at ${vt} has size ${vsize}`);
    this.need(vt, vsize, `${what} vtable`);
    const tsize = this.u16(vt + 2);
    this.need(t, Math.max(4, tsize), `${what} table`);
    return new Table(this, t, vt, vsize, tsize, what);
  }
  deref(p: number, what: string): number {
    const at = p + this.u32(p);
    this.need(at, 4, what);
    return at;
  }
  string(p: number, what: string): string {
    const s = this.deref(p, what);
    const n = this.u32(s);
    this.need(s + 4, n + 1, `${what} string`);
    try {
      return utf8.decode(this.bytes.subarray(s + 4, s + 4 + n));
    } catch {
      throw malformed(`${what} is not UTF-8`);
    }
  }
  /** Positions of a vector of tables' elements. */
  tableVector(p: number, what: string): Table[] {
    const v = this.deref(p, what);
    const n = this.u32(v);
    this.need(v + 4, n * 4, `${what} vector`);
    const out: Table[] = [];
    for (let i = 0; i < n; i++) {
      const e = v + 4 + 4 * i;
      out.push(this.table(e + this.u32(e), `${what}[${i}]`));
    }
    return out;
  }
}

class Table {
  constructor(
    readonly r: Reader,
    readonly t: number,
    readonly vt: number,
    readonly vsize: number,
    readonly tsize: number,
    readonly what: string,
  ) {}
  /** The field at vtable offset `vo`: its absolute position, or 0 when absent. */
  field(vo: number, width: number): number {
    if (vo + 2 > this.vsize) return 0;
    const o = this.r.u16(this.vt + vo);
    if (o === 0) return 0;
    if (o + width > this.tsize) throw malformed(`${this.what}: field ${vo} outside its table`);
    return this.t + o;
  }
  u8(vo: number, dflt: number): number {
    const p = this.field(vo, 1);
    return p ? this.r.u8(p) : dflt;
  }
  i8(vo: number, dflt: number): number {
    const p = this.field(vo, 1);
    return p ? this.r.dv.getInt8(p) : dflt;
  }
  u16(vo: number, dflt: number): number {
    const p = this.field(vo, 2);
    return p ? this.r.u16(p) : dflt;
  }
  i32(vo: number, dflt: number): number {
    const p = this.field(vo, 4);
    return p ? this.r.i32(p) : dflt;
  }
  i64(vo: number): bigint {
    const p = this.field(vo, 8);
    return p ? this.r.dv.getBigInt64(p, true) : 0n;
  }
  f64(vo: number): number {
    const p = this.field(vo, 8);
    return p ? this.r.dv.getFloat64(p, true) : 0;
  }
  bool(vo: number): boolean {
    return this.u8(vo, 0) !== 0;
  }
  string(vo: number, name: string): string | null {
    const p = this.field(vo, 4);
    return p ? this.r.string(p, `${this.what}.${name}`) : null;
  }
  requiredString(vo: number, name: string): string {
    const s = this.string(vo, name);
    if (s === null) throw malformed(`${this.what}.${name} is missing`);
    return s;
  }
  table(vo: number, name: string): Table | null {
    const p = this.field(vo, 4);
    return p ? this.r.table(this.r.deref(p, name), `${this.what}.${name}`) : null;
  }
  tables(vo: number, name: string): Table[] {
    const p = this.field(vo, 4);
    return p ? this.r.tableVector(p, `${this.what}.${name}`) : [];
  }
}

function readType(t: Table | null, what: string): RType {
  if (t === null) throw malformed(`${what} has no type`);
  return { base: t.i8(4, 0), element: t.i8(6, 0), index: t.i32(8, -1), fixedLength: t.u16(10, 0) };
}

function readAttributes(t: Table, vo: number): Map<string, string> {
  const m = new Map<string, string>();
  for (const kv of t.tables(vo, 'attributes'))
    m.set(kv.requiredString(4, 'key'), kv.string(6, 'value') ?? '');
  return m;
}

// Names become identifiers and string literals of generated code: only
// what flatc accepts is let through (a name is never code).
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const QUALIFIED = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;
function checkName(name: string, qualified: boolean, what: string): string {
  if (!(qualified ? QUALIFIED : IDENT).test(name) || name.length > 1024)
    throw malformed(`${what} name ${JSON.stringify(name.slice(0, 64))} is not an identifier`);
  return name;
}

/**
 * Reads a binary schema. Throws `FlatStreamError` (`ERR_FLATSTREAM_SCHEMA`)
 * naming what is wrong when the bytes are not a well-formed `.bfbs`.
 */
export function readSchema(bfbs: Uint8Array): RSchema {
  const r = new Reader(bfbs);
  if (bfbs.length < 8) throw malformed(`${bfbs.length} bytes is too short`);
  const ident = String.fromCharCode(bfbs[4]!, bfbs[5]!, bfbs[6]!, bfbs[7]!);
  if (ident !== 'BFBS')
    throw malformed('no "BFBS" file identifier (make it with flatc -b --schema)');
  const root = r.table(r.deref(0, 'root'), 'Schema');
  const objects: RObject[] = root.tables(4, 'objects').map((o, i) => {
    const name = checkName(o.requiredString(4, 'name'), true, 'object');
    const fields = o.tables(6, `fields`).map((f) => {
      const fname = checkName(f.requiredString(4, 'name'), false, `${name} field`);
      return {
        name: fname,
        type: readType(f.table(6, 'type'), `${name}.${fname}`),
        id: f.u16(8, 0),
        offset: f.u16(10, 0),
        defaultInteger: f.i64(12),
        defaultReal: f.f64(14),
        deprecated: f.bool(16),
        required: f.bool(18),
        optional: f.bool(26),
        attributes: readAttributes(f, 22),
      };
    });
    const minalign = o.i32(10, 0);
    const bytesize = o.i32(12, 0);
    if (minalign < 0 || minalign > 256 || bytesize < 0 || bytesize > 1 << 20)
      throw malformed(`objects[${i}] ${name}: minalign ${minalign}, bytesize ${bytesize}`);
    return {
      name,
      fields,
      isStruct: o.bool(8),
      minalign,
      bytesize,
      attributes: readAttributes(o, 14),
    };
  });
  const enums: REnum[] = root.tables(6, 'enums').map((e) => {
    const name = checkName(e.requiredString(4, 'name'), true, 'enum');
    return {
      name,
      values: e.tables(6, 'values').map((v) => {
        const ut = v.table(10, 'union_type');
        return {
          name: checkName(v.requiredString(4, 'name'), true, `${name} value`),
          value: v.i64(6),
          unionType: ut ? readType(ut, `${name} member`) : null,
        };
      }),
      isUnion: e.bool(8),
      underlying: readType(e.table(10, 'underlying_type'), name),
      attributes: readAttributes(e, 12),
    };
  });
  const fileIdent = root.string(8, 'file_ident') ?? '';
  if (!/^[\x20-\x7e]{0,4}$/.test(fileIdent))
    throw malformed(`file_ident ${JSON.stringify(fileIdent)}`);
  let rootTable = -1;
  const rt = root.table(12, 'root_table');
  if (rt !== null) {
    const rname = rt.requiredString(4, 'name');
    rootTable = objects.findIndex((o) => o.name === rname);
    if (rootTable < 0) throw malformed(`root_table ${rname} is not among the objects`);
  }
  // Indices must point inside the schema: checked once here, so the
  // compiler can follow them freely.
  const checkType = (t: RType, what: string): void => {
    const usesObj =
      t.base === Base.Obj ||
      ((t.base === Base.Vector || t.base === Base.Array) && t.element === Base.Obj);
    if (usesObj && (t.index < 0 || t.index >= objects.length))
      throw malformed(`${what}: object index ${t.index} out of range`);
    const usesEnum =
      t.base === Base.Union ||
      t.base === Base.UType ||
      (t.base === Base.Vector && (t.element === Base.Union || t.element === Base.UType));
    if (usesEnum && (t.index < 0 || t.index >= enums.length))
      throw malformed(`${what}: enum index ${t.index} out of range`);
    if (!usesObj && t.index >= enums.length)
      throw malformed(`${what}: enum index ${t.index} out of range`);
  };
  for (const o of objects) for (const f of o.fields) checkType(f.type, `${o.name}.${f.name}`);
  for (const e of enums) {
    checkType(e.underlying, e.name);
    for (const v of e.values) if (v.unionType) checkType(v.unionType, `${e.name}.${v.name}`);
  }
  return { objects, enums, fileIdent, rootTable };
}
