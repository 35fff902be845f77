/**
 * Validators: checks a payload must pass — on the write side before its frame
 * is staged, on the read side after its checksum and before user code.
 *
 * The built-ins (`SizeValidator`, `TableRootValidator`, schema-driven
 * `TypedValidator.fromSchema`) run natively, inside the reader's batch scan;
 * `TypedValidator.fromFunction` runs your check in JS per payload. The npm
 * `flatbuffers` runtime has no verifier at all: these are what make reading
 * untrusted streams from Node safe.
 */
import { checkBytes, checkFunction, checkInteger, checkOptions, typeError } from './args';
import { type ValidatorChainLike, nativeExport } from '../engine/load';
import { VerifierLimits as Limits } from '../engine/contract';
import { type JsValidatorSpec, JsValidatorChain, checkSpec } from '../engine/js/validator-chain';
import { FlatStreamError, NativeRequiredError } from './errors';

/** A check of one payload: `null`/`undefined` when it passes, otherwise the reason. */
export interface Validator {
  readonly name: string;
  validate(payload: Uint8Array): string | null | undefined;
}

/** @internal How a built-in validator is described to the native engine. */
export type NativeSpec =
  | { kind: 'size'; min: number; max: number }
  | { kind: 'tableRoot'; maxDepth: number; maxTables: number; checkAlignment: boolean }
  | {
      kind: 'schema';
      bfbs: Uint8Array;
      rootType: string;
      maxDepth: number;
      maxTables: number;
      checkAlignment: boolean;
    };

/** Limits of the structural verifiers. */
export interface VerifierLimits {
  /** Deepest nesting of tables (default 64, at most 256). */
  maxDepth?: number;
  /** Most tables in one payload (default 1 000 000). */
  maxTables?: number;
  /** Reject misaligned scalars, as flatc-generated verifiers do (default true). */
  checkAlignment?: boolean;
}

type NativeChain = ValidatorChainLike;
type NativeChainClass = new (specs: NativeSpec[]) => NativeChain;

function nativeChain(specs: NativeSpec[]): NativeChain | null {
  const Chain = nativeExport('ValidatorChain') as NativeChainClass | undefined;
  return Chain ? new Chain(specs) : null;
}

function limitsOf(limits: VerifierLimits | undefined): {
  maxDepth: number;
  maxTables: number;
  checkAlignment: boolean;
} {
  checkOptions(limits, 'limits');
  const maxDepth = limits?.maxDepth ?? Limits.defaultMaxDepth;
  const maxTables = limits?.maxTables ?? Limits.defaultMaxTables;
  const checkAlignment = limits?.checkAlignment ?? true;
  checkInteger(maxDepth, 'maxDepth', 1, Limits.maxDepthLimit);
  checkInteger(maxTables, 'maxTables', 1, 2 ** 32 - 1);
  if (typeof checkAlignment !== 'boolean')
    throw typeError('The "checkAlignment" option must be a boolean');
  return { maxDepth, maxTables, checkAlignment };
}

/** Base of the built-ins: a native spec, and a native check for the slow paths. */
abstract class BuiltinValidator implements Validator {
  abstract readonly name: string;
  /** @internal */
  abstract readonly spec: NativeSpec;
  #chain: NativeChain | null | undefined;

  validate(payload: Uint8Array): string | null {
    checkBytes(payload, 'payload');
    return this.check(payload, 0, payload.length);
  }

  /** @internal Checks buf[offset, offset + length) without a view. */
  check(buf: Uint8Array, offset: number, length: number): string | null {
    if (this.#chain === undefined) this.#chain = nativeChain([this.spec]);
    if (this.#chain) return this.#chain.check(buf, offset, length)?.reason ?? null;
    // Without the addon: the TypeScript engine's twin of the same spec
    // (lib/engine/js/validator-chain.ts). A schema spec has none; a
    // SchemaValidator cannot be made without the addon.
    const spec = this.spec;
    if (spec.kind === 'schema') throw new NativeRequiredError('TypedValidator.fromSchema');
    return checkSpec(spec, buf, offset, length);
  }
}

/** Accepts everything. */
export const NoValidator: Validator = Object.freeze({ name: 'none', validate: () => null });

/** Accepts payloads of `min`..`max` bytes. */
export class SizeValidator extends BuiltinValidator {
  readonly name = 'size';
  /** @internal */
  readonly spec: NativeSpec;

  constructor(
    readonly min: number,
    readonly max: number,
  ) {
    super();
    checkInteger(min, 'min', 0, 2 ** 32 - 1);
    checkInteger(max, 'max', min, 2 ** 32 - 1);
    this.spec = { kind: 'size', min, max };
  }
}

/**
 * The FlatBuffers structural check without a schema (flatbuffers' C++
 * `Verifier`): the root offset, the root table and its vtable lie inside
 * the payload, within depth and table-count limits.
 */
export class TableRootValidator extends BuiltinValidator {
  readonly name = 'table-root';
  /** @internal */
  readonly spec: NativeSpec;

  constructor(limits?: VerifierLimits) {
    super();
    this.spec = { kind: 'tableRoot', ...limitsOf(limits) };
  }
}

/** Options of {@link TypedValidator.fromSchema}. */
export interface SchemaOptions extends VerifierLimits {
  /** The root table (default: the schema's `root_type`), e.g. `'events.RichEvent'`. */
  rootType?: string;
}

/** Schema-aware validators. */
export class TypedValidator {
  private constructor() {}

  /**
   * Verifies every field, string, vector, nested table, struct and union
   * against a binary schema (`flatc -b --schema x.fbs` → `x.bfbs`), natively.
   * Needs the native addon (`flatstream.native`).
   *
   * @example
   * ```ts
   * const v = TypedValidator.fromSchema(readFileSync('events.bfbs'), { rootType: 'events.RichEvent' });
   * const reader = new StreamReader(file, new ChecksumDeframer(XxHash64).withValidator(v));
   * ```
   */
  static fromSchema(bfbs: Uint8Array, options?: SchemaOptions): Validator {
    return new SchemaValidator(bfbs, options);
  }

  /** A check written in TS: return `false` or a reason string to reject, anything else accepts. */
  static fromFunction(
    name: string,
    fn: (payload: Uint8Array) => boolean | string | null | undefined | void,
  ): Validator {
    if (typeof name !== 'string' || name === '')
      throw typeError('The "name" argument must be a non-empty string');
    checkFunction(fn, 'fn');
    return Object.freeze({
      name,
      validate(payload: Uint8Array): string | null {
        const r = fn(payload);
        if (r === false) return 'rejected';
        return typeof r === 'string' ? r : null;
      },
    });
  }
}

class SchemaValidator extends BuiltinValidator {
  readonly name: string;
  /** @internal */
  readonly spec: NativeSpec;

  constructor(bfbs: Uint8Array, options?: SchemaOptions) {
    super();
    checkBytes(bfbs, 'bfbs');
    checkOptions(options, 'options');
    const rootType = options?.rootType ?? '';
    if (typeof rootType !== 'string') throw typeError('The "rootType" option must be a string');
    this.spec = { kind: 'schema', bfbs: Uint8Array.from(bfbs), rootType, ...limitsOf(options) };
    this.name = `schema${rootType ? `:${rootType}` : ''}`;
    // Built now, so a bad schema or root type fails here and not per frame.
    const chain = nativeChainOrThrow([this.spec]);
    this.check = (buf, offset, length) => chain.check(buf, offset, length)?.reason ?? null;
  }
}

function nativeChainOrThrow(specs: NativeSpec[]): NativeChain {
  let chain: NativeChain | null;
  try {
    chain = nativeChain(specs);
  } catch (err) {
    throw new FlatStreamError(`invalid schema: ${(err as Error).message}`, 'ERR_FLATSTREAM_SCHEMA');
  }
  if (!chain) {
    throw new NativeRequiredError('TypedValidator.fromSchema');
  }
  return chain;
}

/** All of its validators, in order; the first failure is reported. */
export class CompositeValidator implements Validator {
  readonly name = 'composite';
  readonly validators: readonly Validator[];

  constructor(...validators: Validator[]) {
    for (const v of validators) checkValidator(v);
    this.validators = Object.freeze(
      validators.flatMap((v) => (v instanceof CompositeValidator ? v.validators : [v])),
    );
  }

  validate(payload: Uint8Array): string | null {
    for (const v of this.validators) {
      const r = v.validate(payload);
      if (r) return `${v.name}: ${r}`;
    }
    return null;
  }
}

/** Throws a TypeError unless `v` is a Validator. */
export function checkValidator(v: unknown): asserts v is Validator {
  if (
    typeof v !== 'object' ||
    v === null ||
    typeof (v as Validator).validate !== 'function' ||
    typeof (v as Validator).name !== 'string'
  ) {
    throw typeError('The "validator" argument must be a Validator ({ name, validate(payload) })');
  }
}

/**
 * @internal A compiled validator. `check` returns the failing validator's
 * name and reason for buf[offset, offset + length), or null; built-ins are
 * checked without creating a view. When every validator is a built-in,
 * `batch` is the chain the engine runs inside its scan (the addon's own
 * ValidatorChain, or a TS one for the fallback engine) and `names` maps its
 * failing index to a validator name.
 */
export interface CompiledValidator {
  check(
    buf: Uint8Array,
    offset: number,
    length: number,
  ): { validator: string; reason: string } | null;
  readonly batch: ValidatorChainLike | null;
  readonly names: readonly string[];
}

/** @internal */
export function compileValidator(v: Validator): CompiledValidator | null {
  const list = v instanceof CompositeValidator ? v.validators : [v];
  const active = list.filter((x) => x !== NoValidator);
  if (active.length === 0) return null;
  const names = active.map((x) => x.name);
  let batch: ValidatorChainLike | null = null;
  if (active.every((x) => x instanceof BuiltinValidator)) {
    const builtins = active as BuiltinValidator[];
    // The fallback engine's chain takes the same specs (schema validators never get
    // here without the addon: their constructor requires it).
    batch =
      nativeChain(builtins.map((x) => x.spec)) ??
      new JsValidatorChain(builtins.map((x) => x.spec as JsValidatorSpec));
  }
  return {
    batch,
    names,
    check(buf, offset, length) {
      if (batch) {
        const bad = batch.check(buf, offset, length);
        return bad ? { validator: names[bad.index]!, reason: bad.reason } : null;
      }
      let view: Uint8Array | null = null;
      for (const x of active) {
        const reason =
          x instanceof BuiltinValidator
            ? x.check(buf, offset, length)
            : x.validate((view ??= buf.subarray(offset, offset + length)));
        if (reason) return { validator: x.name, reason };
      }
      return null;
    },
  };
}
