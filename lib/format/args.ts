/** Argument checks shared by the public API; errors follow Node's conventions. */

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return `an instance of ${value.constructor?.name ?? 'Object'}`;
  return `type ${typeof value} (${String(value).slice(0, 32)})`;
}

function typeError(message: string): TypeError {
  return Object.assign(new TypeError(message), { code: 'ERR_INVALID_ARG_TYPE' });
}

function rangeError(message: string): RangeError {
  return Object.assign(new RangeError(message), { code: 'ERR_OUT_OF_RANGE' });
}

/** Throws unless `value` is a Uint8Array (a Buffer included), from any realm. */
export function checkBytes(value: unknown, name: string): asserts value is Uint8Array {
  if (value instanceof Uint8Array) return; // the hot case, and Buffers
  // ArrayBuffer.isView + tag instead of instanceof: typed arrays from another
  // realm (vm contexts, jest) fail instanceof.
  if (
    !ArrayBuffer.isView(value) ||
    Object.prototype.toString.call(value) !== '[object Uint8Array]'
  ) {
    throw typeError(
      `The "${name}" argument must be a Uint8Array or Buffer. Received ${describe(value)}`,
    );
  }
}

/** Throws unless `value` is an integer in [min, max]. */
export function checkInteger(
  value: unknown,
  name: string,
  min: number,
  max: number,
): asserts value is number {
  if (typeof value !== 'number') {
    throw typeError(`The "${name}" argument must be of type number. Received ${describe(value)}`);
  }
  if (!Number.isInteger(value) || value < min || value > max) {
    throw rangeError(
      `The value of "${name}" is out of range. It must be an integer >= ${min} and <= ${max}. Received ${value}`,
    );
  }
}

/** Throws unless `value` is a function. */
export function checkFunction(
  value: unknown,
  name: string,
): asserts value is (...args: never[]) => unknown {
  if (typeof value !== 'function') {
    throw typeError(`The "${name}" argument must be a function. Received ${describe(value)}`);
  }
}

/** Throws unless `value` is undefined or a plain object. */
export function checkOptions(value: unknown, name: string): asserts value is object | undefined {
  if (value !== undefined && (typeof value !== 'object' || value === null)) {
    throw typeError(`The "${name}" argument must be an object. Received ${describe(value)}`);
  }
}

export { typeError, rangeError };
