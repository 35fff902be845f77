/**
 * The fallback engine's ValidatorChain: the built-in validators the native
 * chain (native/validator_chain.cc) runs inside a scan, with the same
 * results and reason strings (docs/design.md "The engine contract").
 * Schema validators need the addon and are not here.
 *
 * Owns: the TS size and table-root checks. Imports: ./table-root only.
 */
import { type TableRootLimits, checkTableRoot } from './table-root';

/** A built-in validator the fallback engine can run (the `size` and `tableRoot` native specs). */
export type JsValidatorSpec =
  | { readonly kind: 'size'; readonly min: number; readonly max: number }
  | ({ readonly kind: 'tableRoot' } & TableRootLimits);

/** Why a payload failed a chain: the validator's position in it, and its reason. */
export interface JsChainFailure {
  index: number;
  reason: string;
}

/** Checks buf[offset, offset + length) against one spec: null, or the native engine's reason. */
export function checkSpec(
  spec: JsValidatorSpec,
  buf: Uint8Array,
  offset: number,
  length: number,
): string | null {
  if (spec.kind === 'size') {
    if (length < spec.min) return `payload of ${length} bytes is shorter than ${spec.min}`;
    if (length > spec.max) return `payload of ${length} bytes is longer than ${spec.max}`;
    return null;
  }
  return checkTableRoot(buf, offset, length, spec);
}

/** The TS twin of the addon's `ValidatorChain`: AND, in order, first failure wins. */
export class JsValidatorChain {
  readonly #specs: readonly JsValidatorSpec[];

  constructor(specs: readonly JsValidatorSpec[]) {
    this.#specs = specs.slice();
  }

  /** null when buf[offset, offset + length) passes every validator. */
  check(buf: Uint8Array, offset: number, length: number): JsChainFailure | null {
    for (let i = 0; i < this.#specs.length; i++) {
      const reason = checkSpec(this.#specs[i]!, buf, offset, length);
      if (reason !== null) return { index: i, reason };
    }
    return null;
  }
}
