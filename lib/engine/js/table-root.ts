/**
 * The fallback engine's TableRootValidator: exactly the checks of
 * native/verifier.cc's `TableRootValidator::verify` (which sits on
 * flatbuffers::Verifier), in the same order, with the same reason strings,
 * so a payload is accepted or rejected for the same reason whichever engine
 * runs (docs/design.md "The engine contract"; test/engine-parity.test.ts).
 *
 * Owns: nothing but this check. Imports: the contract only.
 */
import { MAX_VERIFIABLE_SIZE, MIN_VERIFIABLE_SIZE } from '../contract';

/** The limits of one check, as the native `VerifierOptions`. */
export interface TableRootLimits {
  readonly maxDepth: number;
  readonly maxTables: number;
  readonly checkAlignment: boolean;
  /** Longer payloads are "buffer too large" (default and cap {@link MAX_VERIFIABLE_SIZE}). */
  readonly maxSize?: number;
}

/**
 * Checks buf[offset, offset + length) as a FlatBuffer's root table: null
 * when it passes, otherwise the native engine's reason. Alignment is
 * relative to the payload's start, as in flatc-generated verifiers.
 */
export function checkTableRoot(
  buf: Uint8Array,
  offset: number,
  length: number,
  limits: TableRootLimits,
): string | null {
  const align = limits.checkAlignment;
  const maxSize = Math.min(limits.maxSize ?? MAX_VERIFIABLE_SIZE, MAX_VERIFIABLE_SIZE);
  if (length < MIN_VERIFIABLE_SIZE) return 'buffer too small';
  if (length > maxSize) return 'buffer too large';
  const u16 = (p: number): number => buf[offset + p]! | (buf[offset + p + 1]! << 8);
  const i32 = (p: number): number =>
    buf[offset + p]! |
    (buf[offset + p + 1]! << 8) |
    (buf[offset + p + 2]! << 16) |
    (buf[offset + p + 3]! << 24);
  // Verifier::Verify(elem, n): [elem, elem + n) inside the payload, and n < length.
  const inBounds = (elem: number, n: number): boolean =>
    n < length && elem >= 0 && elem <= length - n;

  // Verifier::VerifyOffset(0): the root offset (its slot is aligned and in bounds at length >= 12).
  const root = i32(0) >>> 0;
  if (root === 0) return 'root offset is zero';
  if (root >= 2 ** 31 || !inBounds(root, 1)) return 'root offset out of bounds';

  // Verifier::VerifyTableStart(root), reported as native verify_detail::table_failure.
  if (align && root % 4 !== 0) return 'table misaligned';
  if (!inBounds(root, 4)) return 'table out of bounds';
  // The vtable's soffset is signed; the native size_t wrap-around puts a
  // vtable before 0 out of bounds, as the negative number does here.
  const vt = root - i32(root);
  if (align && (vt & 1) !== 0) return 'vtable misaligned';
  if (!inBounds(vt, 2)) return 'vtable out of bounds';
  const vsize = u16(vt);
  if ((vsize & 1) !== 0) return 'vtable size is odd';
  if (!inBounds(vt, vsize)) return 'vtable extends past the end';
  // Verifier::VerifyComplexity: the root is one table at depth 1.
  if (limits.maxDepth < 1) return 'depth limit exceeded';
  if (limits.maxTables < 1) return 'table limit exceeded';

  // What builders always write, and generated verifiers do not check.
  if (vsize < 4) return 'vtable too short';
  const tsize = u16(vt + 2);
  if (tsize < 4) return 'table size smaller than its vtable offset';
  if (!inBounds(root, tsize)) return 'table body out of bounds';
  for (let slot = 4; slot < vsize; slot += 2) {
    const off = u16(vt + slot);
    if (off !== 0 && (off < 4 || off >= tsize)) return 'field offset outside the table';
  }
  return null;
}
