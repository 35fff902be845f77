/**
 * Wire constants and built-in checksum ids, as named by the engine contract
 * (lib/engine/contract.ts; docs/design.md "The engine contract").
 */
import { CHECKSUM_WIDTH, ChecksumKind } from '../engine/contract';

export { DEFAULT_MAX_FRAME_LEN, LENGTH_FIELD, WIRE_MAX_FRAME_LEN } from '../engine/contract';

/** Built-in checksum ids, shared with native/checksum.h (ChecksumKind). */
export const Kind = ChecksumKind;

/** Wire width in bytes of each built-in, indexed by id. */
export const KIND_WIDTH: readonly number[] = CHECKSUM_WIDTH;
