/**
 * The codec generator: turns a reflection schema into the JS source of
 * per-table encoders and flyweight decoders (docs/design.md
 * "Schema-compiled codecs"). The SAME text is instantiated at run time by
 * `compileSchema` (with `new Function`) and written out by `flatstream gen`.
 *
 * Layout written, front to back, alignment relative to the payload start:
 *
 *     [root uoffset][file identifier?][vtable][pad][table][out-of-line data…]
 *
 * Each table's slots have a fixed place (largest alignment first, right
 * after the soffset, with the table placed so the first slot is aligned);
 * a field that is absent or equal to its default has a vtable entry of 0
 * and zero bytes in its slot, so equal values give equal bytes. Strings,
 * vectors and sub-tables follow their table, depth first, so every uoffset
 * points forward. Every padding byte is written as 0.
 *
 * Owns: the generated code's shape. Imports: lib/codec/reflection,
 * lib/format/errors, lib/engine/contract.
 */
import { VerifierLimits } from '../engine/contract';
import { FlatStreamError } from '../format/errors';
import { Base, type REnum, type RField, type RObject, type RSchema } from './reflection';

function refuse(what: string): FlatStreamError {
  return new FlatStreamError(`unsupported schema: ${what}`, 'ERR_FLATSTREAM_SCHEMA');
}

/** flatc's lowerCamel of a snake_case name (`device_id` → `deviceId`). */
export function camel(name: string): string {
  let s = '';
  for (let i = 0; i < name.length; i++) {
    if (name[i] === '_' && i + 1 < name.length) s += name[++i]!.toUpperCase();
    else s += name[i];
  }
  return s;
}

interface ScalarKind {
  width: number;
  /** A JS expression: x is a valid value (x is an identifier). */
  ok(x: string): string;
  /** A JS statement writing x at position p. */
  write(p: string, x: string): string;
  /** What the value must be, for messages. */
  desc: string;
  /** The JS type(s) a value may have ('number', 'boolean', 'int64': number or bigint); of that type but invalid is a RangeError, else a TypeError. */
  js: string;
  /** A JS expression reading at p (bigint for 64-bit). */
  read(p: string): string;
  /** Number accessor for 64-bit kinds. */
  readNumber?(p: string): string;
  is64: boolean;
  isFloat: boolean;
  isBool: boolean;
}

const intKind = (
  width: number,
  lo: number,
  hi: number,
  set: string,
  get: string,
  desc: string,
): ScalarKind => ({
  width,
  ok: (x) =>
    width === 4
      ? lo === 0
        ? `(typeof ${x} === 'number' && ${x} >>> 0 === ${x})`
        : `(typeof ${x} === 'number' && (${x} | 0) === ${x})`
      : `(typeof ${x} === 'number' && (${x} | 0) === ${x} && ${x} >= ${lo} && ${x} <= ${hi})`,
  write: (p, x) => (width === 1 ? `b[${p}] = ${x};` : `dv.${set}(${p}, ${x}, true);`),
  read: (p) => (width === 1 ? `this.$dv.${get}(${p})` : `this.$dv.${get}(${p}, true)`),
  desc,
  js: 'number',
  is64: false,
  isFloat: false,
  isBool: false,
});

const KINDS: Record<number, ScalarKind> = {
  [Base.Bool]: {
    width: 1,
    ok: (x) => `(typeof ${x} === 'boolean')`,
    write: (p, x) => `b[${p}] = ${x} ? 1 : 0;`,
    read: (p) => `this.$dv.getUint8(${p}) !== 0`,
    desc: 'a boolean',
    js: 'boolean',
    is64: false,
    isFloat: false,
    isBool: true,
  },
  [Base.Byte]: intKind(1, -128, 127, 'setInt8', 'getInt8', 'an integer in [-128, 127]'),
  [Base.UByte]: intKind(1, 0, 255, 'setUint8', 'getUint8', 'an integer in [0, 255]'),
  [Base.UType]: intKind(1, 0, 255, 'setUint8', 'getUint8', 'an integer in [0, 255]'),
  [Base.Short]: intKind(2, -32768, 32767, 'setInt16', 'getInt16', 'an integer in [-32768, 32767]'),
  [Base.UShort]: intKind(2, 0, 65535, 'setUint16', 'getUint16', 'an integer in [0, 65535]'),
  [Base.Int]: intKind(
    4,
    -(2 ** 31),
    2 ** 31 - 1,
    'setInt32',
    'getInt32',
    'an integer in [-2^31, 2^31-1]',
  ),
  [Base.UInt]: intKind(4, 0, 2 ** 32 - 1, 'setUint32', 'getUint32', 'an integer in [0, 2^32-1]'),
  [Base.Long]: {
    width: 8,
    ok: (x) =>
      `(typeof ${x} === 'bigint' ? BigInt.asIntN(64, ${x}) === ${x} : Number.isSafeInteger(${x}))`,
    write: (p, x) =>
      `if (typeof ${x} === 'bigint') w64(${p}, ${x}); else { dv.setUint32(${p}, ${x} >>> 0, true); dv.setInt32(${p} + 4, Math.floor(${x} / 4294967296), true); }`,
    read: (p) => `this.$dv.getBigInt64(${p}, true)`,
    readNumber: (p) =>
      `this.$dv.getUint32(${p}, true) + this.$dv.getInt32(${p} + 4, true) * 4294967296`,
    desc: 'a bigint in [-2^63, 2^63-1] or a safe integer',
    js: 'int64',
    is64: true,
    isFloat: false,
    isBool: false,
  },
  [Base.ULong]: {
    width: 8,
    ok: (x) =>
      `(typeof ${x} === 'bigint' ? BigInt.asUintN(64, ${x}) === ${x} : Number.isSafeInteger(${x}) && ${x} >= 0)`,
    write: (p, x) =>
      `if (typeof ${x} === 'bigint') w64(${p}, ${x}); else { dv.setUint32(${p}, ${x} >>> 0, true); dv.setUint32(${p} + 4, (${x} - (${x} >>> 0)) / 4294967296, true); }`,
    read: (p) => `this.$dv.getBigUint64(${p}, true)`,
    readNumber: (p) =>
      `this.$dv.getUint32(${p}, true) + this.$dv.getUint32(${p} + 4, true) * 4294967296`,
    desc: 'a bigint in [0, 2^64-1] or a non-negative safe integer',
    js: 'int64',
    is64: true,
    isFloat: false,
    isBool: false,
  },
  [Base.Float]: {
    width: 4,
    ok: (x) =>
      `(typeof ${x} === 'number' && (Number.isFinite(Math.fround(${x})) || !Number.isFinite(${x})))`,
    write: (p, x) => `dv.setFloat32(${p}, ${x}, true);`,
    read: (p) => `this.$dv.getFloat32(${p}, true)`,
    desc: 'a number within float32 range',
    js: 'number',
    is64: false,
    isFloat: true,
    isBool: false,
  },
  [Base.Double]: {
    width: 8,
    ok: (x) => `(typeof ${x} === 'number')`,
    write: (p, x) => `dv.setFloat64(${p}, ${x}, true);`,
    read: (p) => `this.$dv.getFloat64(${p}, true)`,
    desc: 'a number',
    js: 'number',
    is64: false,
    isFloat: true,
    isBool: false,
  },
};

function numLit(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return 'Infinity';
  if (x === -Infinity) return '-Infinity';
  if (Object.is(x, -0)) return '-0';
  return String(x);
}

const q = (s: string): string => JSON.stringify(s);

/** What the generator produces: the source and the list of its tables. */
export interface Generated {
  /**
   * JS: a function body, `new Function(source)()` returns `{ tables }`;
   * TS: a module exporting the codecs, their value and view types, and `schema`.
   */
  source: string;
  /** The non-struct objects, in the order of `tables` in the module object. */
  tables: RObject[];
}

/** How to generate: plain JS for `new Function`, or a TS module for `flatstream gen`. */
export interface GenerateOptions {
  ts: boolean;
  /** TS: the schema's identity, exported as `schema`. */
  identity?: {
    namespace: string;
    rootType: string | null;
    fileIdentifier: string;
    hash: string;
    source: string;
  };
}

const RESERVED = new Set(['toObject', 'toJSON', 'constructor', '__proto__', 'prototype']);

/**
 * Generates the codecs of every table of `schema`. `rootIndex` is the
 * object whose encoder writes the file identifier (-1: none).
 */
export function generate(
  schema: RSchema,
  rootIndex: number,
  opts: GenerateOptions = { ts: false },
): Generated {
  const { objects, enums } = schema;
  // TS-only text (type annotations): the same generator serves both outputs.
  const ty = (text: string): string => (opts.ts ? text : '');
  const I = ty(': number');
  const U8 = ty(': Uint8Array');
  const DV = ty(': DataView');
  const ENC = `v${ty(': any')}, buf${U8}, view${DV}, at${I}, limit${I}`;
  // TS: the value type of each object, as text (what encoders accept).
  const valueFields = new Map<RObject, string[]>();
  const valueOf = (o: RObject): string[] => {
    let l = valueFields.get(o);
    if (!l) valueFields.set(o, (l = []));
    return l;
  };
  // Export names: the short name, qualified (a_b_X) when two namespaces share one.
  const shorts = new Map<string, number>();
  for (const o of objects) {
    const sh = o.name.slice(o.name.lastIndexOf('.') + 1);
    shorts.set(sh, (shorts.get(sh) ?? 0) + 1);
  }
  const exportName = (o: RObject): string => {
    const sh = o.name.slice(o.name.lastIndexOf('.') + 1);
    return shorts.get(sh)! > 1 ? o.name.replace(/\./g, '_') : sh;
  };
  const typeName = (o: RObject): string => `${exportName(o)}Value`;
  const scalarType = (base: number): string =>
    base === Base.Bool
      ? 'boolean'
      : base === Base.Long || base === Base.ULong
        ? 'bigint | number'
        : 'number';
  const out: string[] = [];
  const tables = objects.filter((o) => !o.isStruct);
  const tableId = new Map<RObject, number>();
  tables.forEach((t, i) => tableId.set(t, i));
  const maxDepth = VerifierLimits.defaultMaxDepth;

  const kindOf = (base: number, where: string): ScalarKind => {
    const k = KINDS[base];
    if (!k) throw refuse(`${where}: base type ${base}`);
    return k;
  };
  // Enum-typed scalars are checked against their underlying type only, as
  // flatc's builders do: a .bfbs made without --bfbs-builtins does not say
  // which enums are bit_flags, so a declared-value check would refuse valid
  // flag combinations (docs/design.md "Schema-compiled codecs").

  // ---- structs ----------------------------------------------------------
  const structDone = new Map<RObject, string>();
  const structStack = new Set<RObject>();
  const structFn = (o: RObject): string => {
    const done = structDone.get(o);
    if (done) return done;
    if (structStack.has(o)) throw refuse(`struct ${o.name} contains itself`);
    structStack.add(o);
    const id = `s${objects.indexOf(o)}`;
    const enc: string[] = [];
    const dec: string[] = [];
    const obj: string[] = [];
    const caches: string[] = [];
    const covered = new Uint8Array(o.bytesize);
    const members = new Set<string>();
    for (const f of o.fields) {
      const key = camel(f.name);
      const where = `${o.name}.${f.name}`;
      if (RESERVED.has(key) || members.has(key)) throw refuse(`${where}: the name ${key} collides`);
      members.add(key);
      const t = f.type;
      let size: number;
      if (t.base === Base.Obj) {
        const s = objects[t.index]!;
        if (!s.isStruct) throw refuse(`${where}: a table inside a struct`);
        const fn = structFn(s);
        size = s.bytesize;
        enc.push(`${fn}(v.${key}, p + ${f.offset}, ${q(where)});`);
        caches.push(`$c_${key}${ty(`: V${fn} | null`)} = null;`);
        valueOf(o).push(`${key}: ${typeName(s)};`);
        dec.push(
          `${key}() { return (this.$c_${key} ??= new V${fn}()).$at(this.$b, this.$dv, this.$p + ${f.offset}); }`,
        );
        obj.push(`${key}: this.${key}().toObject()`);
      } else if (t.base === Base.Array) {
        const n = t.fixedLength;
        let ew: number;
        let encOne: string;
        let decOne: string;
        if (t.element === Base.Obj) {
          const s = objects[t.index]!;
          if (!s.isStruct) throw refuse(`${where}: an array of tables`);
          const fn = structFn(s);
          ew = s.bytesize;
          encOne = `${fn}(e, p + ${f.offset} + i * ${ew}, ${q(where)});`;
          caches.push(`$c_${key}${ty(`: V${fn} | null`)} = null;`);
          valueOf(o).push(`${key}: ArrayLike<${typeName(s)}>;`);
          decOne = `(this.$c_${key} ??= new V${fn}()).$at(this.$b, this.$dv, this.$p + ${f.offset} + i * ${ew})`;
          obj.push(`${key}: Array.from({ length: ${n} }, (_, i) => this.${key}(i).toObject())`);
        } else {
          const k = kindOf(t.element, where);
          ew = k.width;
          encOne = `if (!(${k.ok('e')})) throw bad(${q(where)}, ${q(k.desc)}, ${q(k.js)}, e, i); ${k.write(`p + ${f.offset} + i * ${ew}`, 'e')}`;
          decOne = k.read(`this.$p + ${f.offset} + i * ${ew}`);
          valueOf(o).push(`${key}: ArrayLike<${scalarType(t.element)}>;`);
          obj.push(`${key}: Array.from({ length: ${n} }, (_, i) => this.${key}(i))`);
        }
        size = n * ew;
        enc.push(
          `{ const x = v.${key}; if (!isList(x)) throw bad(${q(where)}, 'an array of ${n}', 'list', x); if (x.length !== ${n}) throw rangeErr(${q(where)}, 'must have exactly ${n} elements, got ' + x.length); for (let i = 0; i < ${n}; i++) { const e = x[i]; ${encOne} } }`,
        );
        dec.push(
          `${key}(i${I}) { if (!(i >= 0 && i < ${n})) throw rangeErr(${q(where)}, 'index must be in [0, ${n - 1}], got ' + i); return ${decOne}; }`,
        );
        dec.push(`${key}Length() { return ${n}; }`);
        if (members.has(`${key}Length`)) throw refuse(`${where}: the name ${key}Length collides`);
        members.add(`${key}Length`);
      } else {
        const k = kindOf(t.base, where);
        size = k.width;
        enc.push(
          `{ const x = v.${key}; if (!(${k.ok('x')})) throw bad(${q(where)}, ${q(k.desc)}, ${q(k.js)}, x); ${k.write(`p + ${f.offset}`, 'x')} }`,
        );
        dec.push(`${key}() { return ${k.read(`this.$p + ${f.offset}`)}; }`);
        valueOf(o).push(`${key}: ${scalarType(t.base)};`);
        obj.push(`${key}: this.${key}()`);
        if (k.is64) {
          if (members.has(`${key}Number`)) throw refuse(`${where}: the name ${key}Number collides`);
          members.add(`${key}Number`);
          dec.push(`${key}Number() { return ${k.readNumber!(`this.$p + ${f.offset}`)}; }`);
        }
      }
      if (f.offset + size > o.bytesize) throw refuse(`${where}: field outside its struct`);
      covered.fill(1, f.offset, f.offset + size);
    }
    for (let i = 0; i < o.bytesize; i++) if (!covered[i]) enc.push(`b[p + ${i}] = 0;`);
    out.push(
      `function ${id}(v${ty(': any')}, p${I}, w${ty(': string')}) {\n  if (v === null || typeof v !== 'object') throw bad(w, 'a ${o.name} object', 'object', v);\n  ${enc.join('\n  ')}\n}`,
    );
    out.push(
      `${opts.ts ? 'export ' : ''}class V${id} {\n  $b = EMPTY; $dv = EMPTY_DV; $p = 0; ${caches.join(' ')}\n  $at(b${ty(': Uint8Array')}, dv${ty(': DataView')}, p${I}) { this.$b = b; this.$dv = dv; this.$p = p; return this; }\n  ${dec.join('\n  ')}\n  toObject()${ty(': Record<string, unknown>')} { return { ${obj.join(', ')} }; }\n}`,
    );
    structStack.delete(o);
    structDone.set(o, id);
    return id;
  };

  // ---- tables -------------------------------------------------------------
  const unionOf = (e: REnum, where: string): { tag: number; table: number; name: string }[] =>
    e.values
      .filter((v) => v.value !== 0n)
      .map((v) => {
        const ut = v.unionType;
        if (!ut || ut.base !== Base.Obj || objects[ut.index]!.isStruct)
          throw refuse(
            `${where}: union member ${v.name} is not a table (unions of structs or strings)`,
          );
        if (v.value < 0n || v.value > 255n) throw refuse(`${where}: union tag ${v.value}`);
        return { tag: Number(v.value), table: tableId.get(objects[ut.index]!)!, name: v.name };
      });

  tables.forEach((o, ti) => {
    const isRoot = objects.indexOf(o) === rootIndex;
    const fields = o.fields.filter((f) => !f.deprecated);
    const byId = new Map<number, RField>();
    for (const f of o.fields) {
      if (byId.has(f.id)) throw refuse(`${o.name}.${f.name}: duplicate id ${f.id}`);
      byId.set(f.id, f);
      if (f.offset !== 4 + 2 * f.id)
        throw refuse(`${o.name}.${f.name}: vtable offset ${f.offset} for id ${f.id}`);
    }
    const nslots = fields.reduce((m, f) => Math.max(m, f.id + 1), 0);
    const vsize = 4 + 2 * nslots;
    // Slots: size and alignment of each present field.
    interface Slot {
      f: RField;
      size: number;
      align: number;
      off: number;
    }
    const slots: Slot[] = [];
    const where = (f: RField): string => `${o.name}.${f.name}`;
    for (const f of fields) {
      const t = f.type;
      for (const a of ['flexbuffer', 'force_align'])
        if (f.attributes.has(a)) throw refuse(`${where(f)}: the ${a} attribute`);
      let size: number;
      let align: number;
      if (t.base === Base.Obj && objects[t.index]!.isStruct) {
        const s = objects[t.index]!;
        size = s.bytesize;
        align = Math.max(1, s.minalign);
      } else if (
        t.base === Base.String ||
        t.base === Base.Vector ||
        t.base === Base.Obj ||
        t.base === Base.Union
      ) {
        size = align = 4;
      } else if (t.base === Base.Array) {
        throw refuse(`${where(f)}: a fixed-size array outside a struct`);
      } else {
        size = align = kindOf(t.base, where(f)).width;
      }
      slots.push({ f, size, align, off: 0 });
    }
    slots.sort((a, b) => b.align - a.align || a.f.id - b.f.id);
    const talign = Math.max(4, ...slots.map((s) => s.align));
    let off = 4;
    for (const s of slots) {
      off = 4 + Math.ceil((off - 4) / s.align) * s.align;
      s.off = off;
      off += s.size;
    }
    const tsize = off;
    if (vsize > 0xffff || tsize > 0xffff) throw refuse(`${o.name}: a table larger than 64 KiB`);
    const tmod = (talign - 4) % talign;
    const slotOf = new Map(slots.map((s) => [s.f, s]));
    const members = new Set<string>();
    const member = (name: string, f: RField): string => {
      if (RESERVED.has(name) || members.has(name))
        throw refuse(`${where(f)}: the name ${name} collides`);
      members.add(name);
      return name;
    };

    const enc: string[] = [];
    const dec: string[] = [];
    const obj: string[] = [];
    const caches: string[] = [];
    const vals = valueOf(o);
    // vtable entries of ids that have no slot (deprecated fields, gaps)
    for (let id = 0; id < nslots; id++) {
      const f = byId.get(id);
      if (!f || f.deprecated) enc.push(`dv.setUint16(vt + ${4 + 2 * id}, 0, true);`);
    }
    const absent = (s: Slot): string => {
      const zero: string[] = [`dv.setUint16(vt + ${s.f.offset}, 0, true);`];
      if (s.size === 1) zero.push(`b[t + ${s.off}] = 0;`);
      else if (s.size === 2) zero.push(`dv.setUint16(t + ${s.off}, 0, true);`);
      else if (s.size % 4 === 0 && s.size <= 16)
        for (let i = 0; i < s.size; i += 4) zero.push(`dv.setUint32(t + ${s.off + i}, 0, true);`);
      else zero.push(`b.fill(0, t + ${s.off}, t + ${s.off + s.size});`);
      return zero.join(' ');
    };
    const present = (s: Slot): string => `dv.setUint16(vt + ${s.f.offset}, ${s.off}, true);`;
    const vo = (f: RField): number => f.offset;
    const unionTypeFields = new Set<RField>();
    for (const f of fields) {
      if (f.type.base === Base.Union) {
        const tf = byId.get(f.id - 1);
        if (!tf || tf.type.base !== Base.UType || tf.deprecated)
          throw refuse(`${where(f)}: union without its _type field`);
        unionTypeFields.add(tf);
      }
    }

    for (const f of fields) {
      const s = slotOf.get(f)!;
      const t = f.type;
      const key = camel(f.name);
      const W = q(where(f));
      const o_ = `const o = this.$o(${vo(f)});`;
      if (unionTypeFields.has(f)) {
        // written with its union field
        member(key, f);
        dec.push(`${key}() { ${o_} return o ? this.$dv.getUint8(this.$t + o) : 0; }`);
        vals.push(`${key}?: number | null;`);
        obj.push(`${key}: this.${key}()`);
        continue;
      }
      if (t.base === Base.Union) {
        const tf = byId.get(f.id - 1)!;
        const ts = slotOf.get(tf)!;
        const tkey = camel(tf.name);
        const e = enums[t.index]!;
        const members_ = unionOf(e, where(f));
        const tagOk = members_
          .map((m) => `case ${m.tag}: p = t${m.table}(x, d + 1, ${W}); break;`)
          .join(' ');
        enc.push(
          `{ let tag = v.${tkey}; const x = v.${key};
    if (tag === undefined || tag === null) tag = 0;
    if (tag === 0) {
      if (x !== undefined && x !== null) throw typeErr(${W}, 'is set but ${tkey} is NONE (0)');
      ${absent(s)} ${absent(ts)}
    } else {
      let p;
      switch (tag) { ${tagOk} default: throw bad(${q(where(tf))}, ${q(`a member of ${e.name} (${members_.map((m) => m.tag).join(', ')})`)}, 'number', tag); }
      if (p < 0) return -1;
      b[t + ${ts.off}] = tag; ${present(ts)}
      dv.setUint32(t + ${s.off}, p - t - ${s.off}, true); ${present(s)}
    } }`,
        );
        member(key, f);
        dec.push(
          `${key}() { ${o_} if (!o) return null; const p = this.$t + o; const a = p + this.$dv.getUint32(p, true); switch (this.${tkey}()) { ${members_
            .map(
              (m) =>
                `case ${m.tag}: return (this.$u${m.tag}_${key} ??= new VT${m.table}()).$at(this.$b, this.$dv, a);`,
            )
            .join(' ')} default: return null; } }`,
        );
        obj.push(`${key}: this.${key}()?.toObject() ?? null`);
        for (const m of members_)
          caches.push(`$u${m.tag}_${key}${ty(`: VT${m.table} | null`)} = null;`);
        vals.push(
          `${key}?: ${members_.map((m) => typeName(tables[m.table]!)).join(' | ')} | null;`,
        );
        continue;
      }
      const opt = f.required ? '' : '?';
      const orNull = f.required ? '' : ' | null';
      const missing = f.required ? `throw typeErr(${W}, 'is required');` : absent(s);
      if (t.base === Base.String) {
        enc.push(
          `{ const x = v.${key};
    if (x === undefined || x === null) { ${missing} }
    else { if (typeof x !== 'string') throw bad(${W}, 'a string', 'string', x); const p = str(x); if (p < 0) return -1; dv.setUint32(t + ${s.off}, p - t - ${s.off}, true); ${present(s)} } }`,
        );
        member(key, f);
        dec.push(
          `${key}() { ${o_} if (!o) return null; const p = this.$t + o; const a = p + this.$dv.getUint32(p, true); return rdStr(this.$b, this.$dv, a + 4, this.$dv.getUint32(a, true)); }`,
        );
        obj.push(`${key}: this.${key}()`);
        vals.push(`${key}${opt}: string${orNull};`);
        continue;
      }
      if (t.base === Base.Obj) {
        const so = objects[t.index]!;
        if (so.isStruct) {
          const fn = structFn(so);
          enc.push(
            `{ const x = v.${key};
    if (x === undefined || x === null) { ${missing} }
    else { ${fn}(x, t + ${s.off}, ${W}); ${present(s)} } }`,
          );
          member(key, f);
          caches.push(`$c_${key}${ty(`: V${fn} | null`)} = null;`);
          dec.push(
            `${key}() { ${o_} return o ? (this.$c_${key} ??= new V${fn}()).$at(this.$b, this.$dv, this.$t + o) : null; }`,
          );
        } else {
          const cid = tableId.get(so)!;
          enc.push(
            `{ const x = v.${key};
    if (x === undefined || x === null) { ${missing} }
    else { const p = t${cid}(x, d + 1, ${W}); if (p < 0) return -1; dv.setUint32(t + ${s.off}, p - t - ${s.off}, true); ${present(s)} } }`,
          );
          member(key, f);
          caches.push(`$c_${key}${ty(`: VT${cid} | null`)} = null;`);
          dec.push(
            `${key}() { ${o_} if (!o) return null; const p = this.$t + o; return (this.$c_${key} ??= new VT${cid}()).$at(this.$b, this.$dv, p + this.$dv.getUint32(p, true)); }`,
          );
        }
        vals.push(`${key}${opt}: ${typeName(so)}${orNull};`);
        obj.push(`${key}: this.${key}()?.toObject() ?? null`);
        continue;
      }
      if (t.base === Base.Vector) {
        const nested = f.attributes.has('nested_flatbuffer');
        let ew: number;
        let ealign: number;
        let encElems: string; // fills elements of x at d0 (data start), n elements
        let decElem: string; // reads element i at a (data start)
        let objElem: string;
        let elemType: string;
        const vecMembers: string[] = [];
        if (t.element === Base.String) {
          ew = ealign = 4;
          encElems = `for (let i = 0; i < n; i++) dv.setUint32(d0 + 4 * i, 0, true);
      for (let i = 0; i < n; i++) { const e = x[i]; if (typeof e !== 'string') throw bad(${W}, 'a string', 'string', e, i); const p = str(e); if (p < 0) return -1; dv.setUint32(d0 + 4 * i, p - d0 - 4 * i, true); }`;
          decElem = `{ const e = a + 4 * i; const s = e + this.$dv.getUint32(e, true); return rdStr(this.$b, this.$dv, s + 4, this.$dv.getUint32(s, true)); }`;
          objElem = `this.${key}(i)`;
          elemType = 'string';
        } else if (t.element === Base.Obj) {
          const eo = objects[t.index]!;
          if (eo.isStruct) {
            const fn = structFn(eo);
            ew = eo.bytesize;
            ealign = Math.max(1, eo.minalign);
            encElems = `for (let i = 0; i < n; i++) ${fn}(x[i], d0 + ${ew} * i, ${W});`;
            decElem = `return (this.$c_${key} ??= new V${fn}()).$at(this.$b, this.$dv, a + ${ew} * i);`;
            objElem = `this.${key}(i).toObject()`;
            caches.push(`$c_${key}${ty(`: V${fn} | null`)} = null;`);
            elemType = typeName(eo);
          } else {
            const cid = tableId.get(eo)!;
            ew = ealign = 4;
            encElems = `for (let i = 0; i < n; i++) dv.setUint32(d0 + 4 * i, 0, true);
      for (let i = 0; i < n; i++) { const p = t${cid}(x[i], d + 1, ${W}); if (p < 0) return -1; dv.setUint32(d0 + 4 * i, p - d0 - 4 * i, true); }`;
            decElem = `{ const e = a + 4 * i; return (this.$c_${key} ??= new VT${cid}()).$at(this.$b, this.$dv, e + this.$dv.getUint32(e, true)); }`;
            objElem = `this.${key}(i).toObject()`;
            caches.push(`$c_${key}${ty(`: VT${cid} | null`)} = null;`);
            elemType = typeName(eo);
          }
        } else if (t.element === Base.Union || t.element === Base.UType) {
          throw refuse(`${where(f)}: a vector of unions`);
        } else if (t.element === Base.Vector || t.element === Base.Array) {
          throw refuse(`${where(f)}: a vector of vectors`);
        } else {
          const k = kindOf(t.element, where(f));
          ew = ealign = k.width;
          const loop = `for (let i = 0; i < n; i++) { const e = x[i]; if (!(${k.ok('e')})) throw bad(${W}, ${q(k.desc)}, ${q(k.js)}, e, i); ${k.write(`d0 + ${ew} * i`, 'e')} }`;
          encElems =
            t.element === Base.UByte
              ? `if (x instanceof Uint8Array) b.set(x, d0); else ${loop}`
              : loop;
          decElem = `return ${k.read(`a + ${ew} * i`)};`;
          objElem = `this.${key}(i)`;
          elemType = scalarType(t.element);
          if (k.is64) {
            vecMembers.push(
              `${member(`${key}Number`, f)}(i${I}) { const a = this.$vec(${vo(f)}, i, ${W}); return ${k.readNumber!(`a + ${ew} * i`)}; }`,
            );
          }
          if (t.element === Base.UByte || t.element === Base.Byte) {
            vecMembers.push(
              `${member(`${key}Bytes`, f)}() { ${o_} if (!o) return null; const p = this.$t + o; const a = p + this.$dv.getUint32(p, true); return this.$b.subarray(a + 4, a + 4 + this.$dv.getUint32(a, true)); }`,
            );
          }
        }
        if (nested && !(t.element === Base.UByte))
          throw refuse(`${where(f)}: nested_flatbuffer on a vector that is not [ubyte]`);
        if (nested) {
          ealign = 8; // the nested buffer's own alignment is relative to its start
          objElem = '';
        }
        // length at p (4-aligned), data at p + 4 aligned to the element's alignment
        const va = Math.max(4, ealign);
        const vmod = (va - 4) % va;
        enc.push(
          `{ const x = v.${key};
    if (x === undefined || x === null) { ${missing} }
    else {
      if (!isList(x)) throw bad(${W}, 'an array', 'list', x);
      const n = x.length; let p = E; const pad = (${vmod} - (p - A)) & ${va - 1};
      if (n > ${Math.floor(0xffffffff / ew)}) throw rangeErr(${W}, 'has ' + n + ' elements: more than a payload can hold');
      if (p + pad + 4 + ${ew} * n > L) return -1;
      for (let i = 0; i < pad; i++) b[p++] = 0;
      const d0 = p + 4; E = d0 + ${ew} * n; dv.setUint32(p, n, true);
      ${encElems}
      dv.setUint32(t + ${s.off}, p - t - ${s.off}, true); ${present(s)}
    } }`,
        );
        member(key, f);
        vals.push(`${key}${opt}: ArrayLike<${elemType}>${orNull};`);
        dec.push(`${key}(i${I}) { const a = this.$vec(${vo(f)}, i, ${W}); ${decElem} }`);
        dec.push(`${member(`${key}Length`, f)}() { return this.$len(${vo(f)}, ${ew}, ${W}); }`);
        dec.push(...vecMembers);
        obj.push(
          nested
            ? `${key}: this.${key}Bytes()?.slice() ?? null`
            : `${key}: this.${key}Length() || this.$o(${vo(f)}) ? Array.from({ length: this.${key}Length() }, (_, i) => ${objElem}) : null`,
        );
        continue;
      }
      // scalars
      const k = kindOf(t.base, where(f));
      let dflt: string;
      let isDefault: string;
      if (k.isFloat) {
        const d = f.defaultReal;
        dflt = numLit(d);
        // -0 is not the default 0: it is written, so it reads back as -0
        isDefault = Number.isNaN(d)
          ? 'x !== x'
          : d === 0
            ? `(x === 0 && 1 / x ${Object.is(d, -0) ? '<' : '>'} 0)`
            : `x === ${dflt}`;
      } else if (k.is64) {
        dflt = `${f.defaultInteger}n`;
        isDefault = `x === ${dflt}`;
      } else if (k.isBool) {
        dflt = f.defaultInteger !== 0n ? 'true' : 'false';
        isDefault = `x === ${dflt}`;
      } else {
        dflt = String(f.defaultInteger);
        isDefault = `x === ${dflt}`;
      }
      if (k.is64) {
        // a number and a bigint each take their own branch: no BigInt is made
        // for a number, and no mixed comparison is made in the hot path
        const signed = t.base === Base.Long;
        const dn = Number(f.defaultInteger);
        const numDefault = f.optional
          ? 'false'
          : Number.isSafeInteger(dn)
            ? `x === ${dn}`
            : 'false';
        const bigDefault = f.optional ? 'false' : `x === ${dflt}`;
        const p = `t + ${s.off}`;
        enc.push(
          `{ const x = v.${key};
    if (typeof x === 'number') {
      if (!(Number.isSafeInteger(x)${signed ? '' : ' && x >= 0'})) throw bad(${W}, ${q(k.desc)}, 'int64', x);
      if (${numDefault}) { ${absent(s)} }
      else { dv.setUint32(${p}, x >>> 0, true); dv.${signed ? 'setInt32' : 'setUint32'}(${p} + 4, ${signed ? 'Math.floor(x / 4294967296)' : '(x - (x >>> 0)) / 4294967296'}, true); ${present(s)} }
    } else if (typeof x === 'bigint') {
      if (!(${signed ? 'BigInt.asIntN(64, x) === x' : 'BigInt.asUintN(64, x) === x'})) throw bad(${W}, ${q(k.desc)}, 'int64', x);
      if (${bigDefault}) { ${absent(s)} }
      else { w64(${p}, x); ${present(s)} }
    } else if (x === undefined || x === null) { ${absent(s)} }
    else throw bad(${W}, ${q(k.desc)}, 'int64', x); }`,
        );
      } else {
        const omit = f.optional ? 'false' : isDefault;
        enc.push(
          `{ const x = v.${key};
    if (x === undefined || x === null) { ${absent(s)} }
    else {
      if (!(${k.ok('x')})) throw bad(${W}, ${q(k.desc)}, ${q(k.js)}, x);
      if (${omit}) { ${absent(s)} }
      else { ${k.write(`t + ${s.off}`, 'x')} ${present(s)} }
    } }`,
        );
      }
      vals.push(`${key}?: ${scalarType(t.base)} | null;`);
      const none = f.optional ? 'null' : null;
      member(key, f);
      dec.push(`${key}() { ${o_} return o ? ${k.read('this.$t + o')} : ${none ?? dflt}; }`);
      obj.push(`${key}: this.${key}()`);
      if (k.is64) {
        const n = f.optional ? 'null' : numLit(Number(f.defaultInteger));
        dec.push(
          `${member(`${key}Number`, f)}() { ${o_} return o ? ${k.readNumber!('this.$t + o')} : ${n}; }`,
        );
      }
    }

    // The padding before the table, in one or two stores: the table's own
    // bytes, written after, cover what they overrun (tsize >= talign).
    const zeroPad =
      talign === 4
        ? 'dv.setUint32(t, 0, true);'
        : talign === 8
          ? 'dv.setUint32(t, 0, true); dv.setUint32(t + 4, 0, true);'
          : 'for (let i = 0; i < pad; i++) b[t + i] = 0;';
    if (talign > 8 && tsize < talign) throw refuse(`${o.name}: alignment ${talign}`);
    out.push(`function t${ti}(v${ty(': any')}, d${I}, w${ty(': string')})${I} {
  if (v === null || typeof v !== 'object') throw bad(w, 'a ${o.name} object', 'object', v);
  if (d > ${maxDepth}) throw rangeErr(w, 'nests tables deeper than ${maxDepth} (the verifier\\'s limit)');
  const vt = E + ((E - A) & 1);
  let t = vt + ${vsize}; const pad = (${tmod} - (t - A)) & ${talign - 1};
  if (t + pad + ${tsize} > L) return -1;
  if (vt !== E) b[E] = 0;
  ${zeroPad}
  t += pad;
  E = t + ${tsize};
  dv.setUint16(vt, ${vsize}, true); dv.setUint16(vt + 2, ${tsize}, true); dv.setInt32(t, t - vt, true);
  ${enc.join('\n  ')}
  return t;
}`);
    out.push(`${opts.ts ? 'export ' : ''}class VT${ti} {
  $b = EMPTY; $dv = EMPTY_DV; $t = 0; $vt = 0; $vs = 0; ${caches.join(' ')}
  $bind(b${U8}, dv${DV}, at${I}) { return this.$at(b, dv, at + dv.getUint32(at, true)); }
  $at(b${U8}, dv${DV}, t${I}) { this.$b = b; this.$dv = dv; this.$t = t; const vt = t - dv.getInt32(t, true); this.$vt = vt; this.$vs = dv.getUint16(vt, true); return this; }
  $o(vo${I})${I} { return vo < this.$vs ? this.$dv.getUint16(this.$vt + vo, true) : 0; }
  $vec(vo${I}, i${I}, w${ty(': string')})${I} { const o = this.$o(vo); const p = this.$t + o; const a = o ? p + this.$dv.getUint32(p, true) : 0; const n = o ? this.$dv.getUint32(a, true) : 0; if (!(i >= 0 && i < n)) throw rangeErr(w, 'index must be in [0, ' + n + '), got ' + i); return a + 4; }
  // A vector's length, checked against the bytes (a corrupt length never drives a loop past them).
  $len(vo${I}, ew${I}, w${ty(': string')})${I} { const o = this.$o(vo); if (!o) return 0; const p = this.$t + o; const a = p + this.$dv.getUint32(p, true); const n = this.$dv.getUint32(a, true); if (a + 4 + n * ew > this.$b.length) throw rangeErr(w, 'has ' + n + ' elements, past the end of the buffer'); return n; }
  ${dec.join('\n  ')}
  toObject()${ty(': Record<string, unknown>')} { return { ${obj.join(', ')} }; }
  toJSON()${ty(': unknown')} { return jsonable(this.toObject()); }
}`);
    const ident = isRoot ? schema.fileIdent : '';
    if (ident.length !== 0 && ident.length !== 4)
      throw refuse(`file_identifier ${q(ident)} is not 4 characters`);
    const hdr = ident ? 8 : 4;
    const identWrite = ident
      ? [...ident].map((c, i) => `b[at + ${4 + i}] = ${c.charCodeAt(0) & 0xff};`).join(' ')
      : '';
    out.push(`function e${ti}(${ENC})${I} {
  // integers only: a fractional index is dropped by a typed array and truncated by a DataView
  if (!(Number.isInteger(at) && Number.isInteger(limit) && at >= 0 && at <= limit && limit <= buf.length))
    throw rangeErr(${q(o.name)}, 'needs integers 0 <= at <= limit <= buf.length, got at ' + at + ', limit ' + limit);
  if (busy) return reenter(r${ti}, v, buf, view, at, limit);
  busy = true;
  try {
    const r = r${ti}(v, buf, view, at, limit);
    busy = false;
    return r;
  } catch (err) {
    busy = false;
    throw err;
  }
}
function r${ti}(${ENC})${I} {
  b = buf; dv = view; A = at; L = limit; E = at + ${hdr};
  if (E > L) return -1;
  ${identWrite}
  const t = t${ti}(v, 1, ${q(o.name)});
  if (t < 0) return -1;
  dv.setUint32(at, t - at, true);
  return E;
}`);
  });

  const preamble = `${opts.ts ? '' : "'use strict';"}
const EMPTY${U8} = new Uint8Array(0);
const EMPTY_DV${DV} = new DataView(EMPTY.buffer);
const TD = new TextDecoder();
// A bigint's 64 bits through a BigUint64Array and two int32 stores: ~3x
// cheaper than DataView.setBigUint64 (docs/design.md "Schema-compiled
// codecs"); the caller has checked the range, so the wrap is never taken.
const B64 = new BigUint64Array(1);
const B64W = new Int32Array(B64.buffer);
const B64LO = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 0 : 1; // the host's low word
function w64(p${I}, x${ty(': bigint')})${ty(': void')} {
  B64[0] = x;
  dv.setInt32(p, B64W[B64LO]${ty('!')}, true);
  dv.setInt32(p + 4, B64W[1 - B64LO]${ty('!')}, true);
}
// The encoder's state: one encoding at a time. A value's getter that calls
// an encoder again (re-entry) runs it with this state saved and restored.
let b = EMPTY, dv = EMPTY_DV, A = 0, E = 0, L = 0, busy = false;
function reenter(run${ty(`: (${ENC}) => number`)}, ${ENC})${I} {
  const sb = b, sdv = dv, sA = A, sE = E, sL = L;
  try {
    return run(v, buf, view, at, limit);
  } finally {
    b = sb; dv = sdv; A = sA; E = sE; L = sL;
  }
}
function describe(x${ty(': unknown')})${ty(': string')} {
  if (x === null) return 'null';
  if (x === undefined) return 'undefined';
  if (typeof x === 'bigint') return 'bigint ' + x + 'n';
  if (typeof x === 'string') return 'string ' + JSON.stringify(x.length > 32 ? x.slice(0, 32) + '…' : x);
  if (typeof x === 'object') return Array.isArray(x) ? 'an array' : 'an object';
  return typeof x + ' ' + String(x);
}
function typeErr(w${ty(': string')}, msg${ty(': string')})${ty(': TypeError')} { return Object.assign(new TypeError(w + ' ' + msg), { code: 'ERR_INVALID_ARG_TYPE' }); }
function rangeErr(w${ty(': string')}, msg${ty(': string')})${ty(': RangeError')} { return Object.assign(new RangeError(w + ' ' + msg), { code: 'ERR_OUT_OF_RANGE' }); }
// js: the JS type the value must have ('int64': number or bigint; 'object' and 'list' are never ranges).
function bad(w${ty(': string')}, want${ty(': string')}, js${ty(': string')}, x${ty(': unknown')}, i${ty('?: number')})${ty(': Error')} {
  const at = i === undefined ? w : w + '[' + i + ']';
  const t = typeof x;
  const sameType = js === 'int64' ? t === 'number' || t === 'bigint' : js !== 'object' && js !== 'list' && t === js;
  const msg = 'must be ' + want + ', got ' + describe(x);
  return sameType ? rangeErr(at, msg) : typeErr(at, msg);
}
// toJSON: 64-bit integers as decimal strings (JSON has no bigint), bytes as arrays.
function jsonable(x${ty(': unknown')})${ty(': unknown')} {
  if (typeof x === 'bigint') return x.toString();
  if (x === null || typeof x !== 'object') return x;
  if (Array.isArray(x) || ArrayBuffer.isView(x)) return Array.from(x${ty(' as ArrayLike<unknown>')}, jsonable);
  const o${ty(': Record<string, unknown>')} = {};
  for (const k of Object.keys(x)) o[k] = jsonable((x${ty(' as Record<string, unknown>')})[k]);
  return o;
}
function isList(x${ty(': unknown')})${ty(': x is ArrayLike<any>')} { return Array.isArray(x) || (ArrayBuffer.isView(x) && !(x instanceof DataView)); }
// UTF-8 of s at E (4-aligned, [len][bytes][0]); lone surrogates as U+FFFD, as TextEncoder.
function str(s${ty(': string')})${I} {
  const n = s.length;
  let p = E;
  const pad = (A - p) & 3;
  if (p + pad + 5 + 3 * n > L && p + pad + 5 + utf8Len(s) > L) return -1;
  for (let i = 0; i < pad; i++) b[p++] = 0;
  let q = p + 4, i = 0;
  for (; i < n; i++) { const c = s.charCodeAt(i); if (c >= 0x80) break; b[q++] = c; }
  for (; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) b[q++] = c;
    else if (c < 0x800) { b[q++] = 0xc0 | (c >> 6); b[q++] = 0x80 | (c & 63); }
    else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const d = i + 1 < n ? s.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00); i++;
          b[q++] = 0xf0 | (c >> 18); b[q++] = 0x80 | ((c >> 12) & 63); b[q++] = 0x80 | ((c >> 6) & 63); b[q++] = 0x80 | (c & 63);
          continue;
        }
        c = 0xfffd;
      }
      b[q++] = 0xe0 | (c >> 12); b[q++] = 0x80 | ((c >> 6) & 63); b[q++] = 0x80 | (c & 63);
    }
  }
  b[q] = 0;
  dv.setUint32(p, q - p - 4, true);
  E = q + 1;
  return p;
}
function utf8Len(s${ty(': string')})${I} {
  let m = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) m += 1; else if (c < 0x800) m += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) { m += 4; i++; }
    else m += 3;
  }
  return m;
}
// Strings of up to 32 bytes are looked up first in a direct-mapped cache of
// 1024 entries keyed by their bytes (docs/design.md "Schema-compiled codecs":
// a telemetry stream repeats its labels and keys, and making the string was
// most of a rich event's read): a hit compares the bytes and returns the
// string made before, with no allocation. Misses, and longer strings: short
// ASCII through String.fromCharCode over one reused array per length (no
// intermediate strings), anything else through TextDecoder.
const CHARS${ty(': number[][]')} = [];
for (let n = 0; n <= 64; n++) CHARS.push(new Array(n).fill(0));
// An entry: its length, its bytes as 32-bit words (the last one holds the
// 1-3 trailing bytes, zero-padded), its string.
const SC_WORDS = new Int32Array(1024 * 8);
const SC_BYTES = new Uint8Array(1024 * 32); // the bytes an entry was made from
const SC_DV = new DataView(SC_BYTES.buffer);
const SC_LEN = new Int32Array(1024).fill(-1);
const SC_STR${ty(': string[]')} = new Array(1024).fill('');
function rdStr(b${U8}, dv${DV}, p${I}, n${I})${ty(': string')} {
  if (p + n > b.length) throw rangeErr('string', 'of ' + n + ' bytes at ' + p + ' runs past the end of the buffer');
  if (n > 32) return decStr(b, p, n);
  const w = n >>> 2;
  let tail = 0;
  for (let j = n - 1; j >= w << 2; j--) tail = (tail << 8) | b[p + j]${ty('!')};
  let h = Math.imul(n ^ tail, 0x01000193);
  for (let i = 0; i < w; i++) h = Math.imul(h ^ dv.getInt32(p + 4 * i, true), 0x01000193);
  h ^= h >>> 16;
  const k = Math.imul(h, 0x85ebca6b) >>> 22; // the top 10 bits, mixed
  const o = k << 3;
  if (SC_LEN[k] === n && (w === 8 || SC_WORDS[o + w] === tail)) {
    let i = 0;
    while (i < w && SC_WORDS[o + i] === dv.getInt32(p + 4 * i, true)) i++;
    if (i === w) return SC_STR[k]${ty('!')};
  }
  // A miss: the entry's words and its string both come from one copy of the
  // bytes, never from two reads of them: bytes that change meanwhile (a
  // SharedArrayBuffer written by another thread) cannot pair the words of
  // one string with another string for every later read.
  const c = k << 5;
  for (let i = 0; i < n; i++) SC_BYTES[c + i] = b[p + i]${ty('!')};
  const s = decStr(SC_BYTES, c, n);
  tail = 0;
  for (let j = n - 1; j >= w << 2; j--) tail = (tail << 8) | SC_BYTES[c + j]${ty('!')};
  for (let i = 0; i < w; i++) SC_WORDS[o + i] = SC_DV.getInt32(c + 4 * i, true);
  if (w < 8) SC_WORDS[o + w] = tail;
  SC_LEN[k] = n;
  SC_STR[k] = s;
  return s;
}
function decStr(b${U8}, p${I}, n${I})${ty(': string')} {
  if (n > 64) return TD.decode(b.subarray(p, p + n));
  const a = CHARS[n]${ty('!')};
  for (let i = 0; i < n; i++) { const c = b[p + i]${ty('!')}; if (c >= 0x80) return TD.decode(b.subarray(p, p + n)); a[i] = c; }
  return String.fromCharCode.apply(null, a);
}
// The codec object of a table: the encoder and views, plus sizeOf (encodes
// into doubling scratch buffers: it is for payloads larger than a slab) and
// tool helpers that allocate.
const MAX_PAYLOAD = 4294967295;
function makeCodec${ty('<T, V extends { $bind(b: Uint8Array, dv: DataView, at: number): V; toObject(): Record<string, unknown>; toJSON(): unknown }>')}(name${ty(': string')}, encodeInto${ty(`: (${ENC}) => number`)}, View${ty(': new () => V')})${ty(': TableCodec<T, V>')} {
  const sizeOf = (value${ty(': T')})${I} => {
    for (let n = 256; ; n *= 2) {
      const buf = new Uint8Array(Math.min(n, MAX_PAYLOAD));
      const end = encodeInto(value, buf, new DataView(buf.buffer), 0, buf.length);
      if (end >= 0) return end;
      if (buf.length >= MAX_PAYLOAD) throw rangeErr(name, 'is larger than ' + MAX_PAYLOAD + ' bytes');
    }
  };
  const view = (payload${U8}, at = 0)${ty(': V')} => {
    // any realm's Uint8Array or Buffer (instanceof fails across vm contexts)
    if (!ArrayBuffer.isView(payload) || Object.prototype.toString.call(payload) !== '[object Uint8Array]')
      throw typeErr(name, 'payload must be a Uint8Array, got ' + describe(payload));
    return new View().$bind(payload, new DataView(payload.buffer, payload.byteOffset, payload.byteLength), at);
  };
  return Object.freeze({
    name,
    encodeInto,
    sizeOf,
    createView: () => new View(),
    encode(value${ty(': T')})${U8} {
      const buf = new Uint8Array(sizeOf(value));
      encodeInto(value, buf, new DataView(buf.buffer), 0, buf.length);
      return buf;
    },
    view,
    decode: (payload${U8}, at = 0) => view(payload, at).toObject(),
  });
}`;
  let exports: string;
  if (!opts.ts) {
    exports = `return { tables: [${tables
      .map((o, i) => `makeCodec(${q(o.name)}, e${i}, VT${i})`)
      .join(', ')}] };`;
  } else {
    const names = new Set<string>(['schema']);
    const take = (n: string): string => {
      if (names.has(n)) throw refuse(`the generated name ${n} collides`);
      names.add(n);
      return n;
    };
    const lines: string[] = [];
    for (const o of objects) {
      const n = exportName(o);
      const fieldsText = valueOf(o).join(' ');
      lines.push(
        `/** The value ${o.isStruct ? 'struct' : 'table'} ${o.name} as encoders take it (lowerCamel keys). */`,
      );
      lines.push(`export interface ${take(`${n}Value`)} { ${fieldsText} }`);
      if (o.isStruct) {
        if (structDone.has(o))
          lines.push(
            `/** A reused view of the struct ${o.name}. */\nexport type ${take(`${n}View`)} = V${structDone.get(o)};`,
          );
      } else {
        const i = tables.indexOf(o);
        lines.push(
          `/** A reused view of the table ${o.name}. */\nexport type ${take(`${n}View`)} = VT${i};`,
        );
        lines.push(
          `/** The codec of ${o.name}. */\nexport const ${take(n)}: TableCodec<${n}Value, VT${i}> = makeCodec(${q(o.name)}, e${i}, VT${i});`,
        );
      }
    }
    // Helpers a schema may not need (no strings, no vectors): used here, so
    // that a project with noUnusedLocals compiles the module as it is.
    lines.push('void [isList, str, rdStr, reenter, w64];');
    const id = opts.identity!;
    lines.push(`/** The schema these codecs were generated from. */
export const schema = {
  namespace: ${q(id.namespace)},
  rootType: ${id.rootType === null ? 'null' : q(id.rootType)},
  fileIdentifier: ${q(id.fileIdentifier)},
  /** SHA-256 of the .bfbs. */
  hash: ${q(id.hash)},
} as const;`);
    exports = lines.join('\n');
  }
  const header = opts.ts
    ? `// Generated by \`flatstream gen\` from ${opts.identity!.source}: do not edit.
// Schema-compiled codecs (flatstream's docs/design.md "Schema-compiled codecs").
/* eslint-disable */
import type { TableCodec } from 'flatstream';
`
    : '';
  return { source: header + [preamble, ...out, exports].join('\n') + '\n', tables };
}
