/** Built-in checksum ids, shared with native/checksum.h (ChecksumKind). */
export const Kind = {
  None: 0,
  Crc16: 1,
  Crc32: 2,
  XxHash64: 3,
  Crc32c: 4,
  Crc64: 5,
} as const;

/** Wire width in bytes of each built-in, indexed by id. */
export const KIND_WIDTH: readonly number[] = [0, 2, 4, 8, 4, 8];

/** Length field (u32 LE) size. */
export const LENGTH_FIELD = 4;

/** Default read bound: 2 GiB, the FlatBuffers maximum. */
export const DEFAULT_MAX_FRAME_LEN = 2 ** 31;

/** The largest length a u32 length field can state. */
export const WIRE_MAX_FRAME_LEN = 2 ** 32 - 1;
