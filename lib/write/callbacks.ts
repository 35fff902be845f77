/**
 * User code the writer runs while it stages, each call under the writer's
 * re-entrancy guard (docs/design.md, "Re-entrancy and writer input"): JS
 * validators, observers, a custom checksum, payload encoders, a duck-typed
 * builder's API. Plain functions, no closures: a function that creates one
 * allocates a context per call for what it captures, and these run per
 * message.
 *
 * Owns: Guard, guarded and the guarded calls. Imports: format (errors,
 * framing, validation, encoder), write/payload-copy.
 */
import type { Builder } from 'flatbuffers';
import type { PayloadEncoder } from '../format/encoder';
import { ValidationFailedError } from '../format/errors';
import type { Framer } from '../format/framing';
import type { CompiledValidator } from '../format/validation';
import { finishedRegion } from './payload-copy';

/**
 * The writer's re-entrancy flag: up while user code runs. One object shared
 * by the writer and its helpers, so that all of them raise the same flag.
 */
export interface Guard {
  active: boolean;
}

/** Runs `fn` with the guard up; nested calls (an arena block inside serialize) keep it up. */
export function guarded<T>(guard: Guard, fn: () => T): T {
  if (guard.active) return fn();
  guard.active = true;
  try {
    return fn();
  } finally {
    guard.active = false;
  }
}

/** Throws ValidationFailedError when `src[start, start + len)` fails the framer's validators. */
export function validate(
  guard: Guard,
  compiled: CompiledValidator,
  src: Uint8Array,
  start: number,
  len: number,
): void {
  // Built-in validators run no user code; a JS one is a callback.
  let bad: { validator: string; reason: string } | null;
  if (compiled.batch) {
    bad = compiled.check(src, start, len);
  } else {
    guard.active = true;
    try {
      bad = compiled.check(src, start, len);
    } finally {
      guard.active = false;
    }
  }
  if (bad) throw new ValidationFailedError(bad.validator, bad.reason);
}

/** Shows the staged payload to the framer's observers. */
export function observe(guard: Guard, framer: Framer, payload: Uint8Array): void {
  guard.active = true;
  try {
    for (const fn of framer.observers) fn(payload);
  } finally {
    guard.active = false;
  }
}

/** Writes the whole header of a custom-checksum frame (the checksum is user code). */
export function customHeader(
  guard: Guard,
  framer: Framer,
  dst: Uint8Array,
  pos: number,
  payload: Uint8Array,
): void {
  guard.active = true;
  try {
    framer.writeHeader(dst, pos, payload, true);
  } finally {
    guard.active = false;
  }
}

/** A duck-typed builder's finished region, read through its API (see finishedRegion). */
export function readRegion(guard: Guard, builder: Builder): { bytes: Uint8Array; start: number } {
  guard.active = true;
  try {
    return finishedRegion(builder);
  } finally {
    guard.active = false;
  }
}

/** `encoder.encodeInto(…)`, its result checked: an end in `[at, limit]`, or -1. */
export function encodeInto<T>(
  guard: Guard,
  encoder: PayloadEncoder<T>,
  value: T,
  buf: Uint8Array,
  view: DataView,
  at: number,
  limit: number,
): number {
  let end: unknown;
  guard.active = true;
  try {
    end = encoder.encodeInto(value, buf, view, at, limit);
  } finally {
    guard.active = false;
  }
  if (end === -1) return -1;
  if (typeof end !== 'number' || !Number.isInteger(end) || end < at || end > limit)
    throw badReturn(encoder, 'encodeInto()', end, `an integer from ${at} to ${limit}, or -1`);
  return end;
}

/** `encoder.sizeOf(value)`, checked: an integer from 0 to 2^32 − 1. */
export function encodedSize<T>(guard: Guard, encoder: PayloadEncoder<T>, value: T): number {
  let size: unknown;
  guard.active = true;
  try {
    size = encoder.sizeOf(value);
  } finally {
    guard.active = false;
  }
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 0 || size > 2 ** 32 - 1)
    throw badReturn(encoder, 'sizeOf()', size, 'an integer from 0 to 4294967295');
  return size;
}

/** An encoder's result that breaks its contract: TypeError ERR_INVALID_RETURN_VALUE. */
export function badReturn(
  encoder: { name: unknown },
  what: string,
  got: unknown,
  want: string,
): TypeError {
  return Object.assign(
    new TypeError(
      `Expected ${what} of the encoder ${String(encoder.name)} to return ${want}. Received ${typeof got === 'number' ? got : typeof got}`,
    ),
    { code: 'ERR_INVALID_RETURN_VALUE' },
  );
}
