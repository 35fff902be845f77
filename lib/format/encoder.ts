/**
 * The reserve/commit seam between the writer and payload encoders
 * (docs/design.md "Slab protocol"): an encoder writes a finished payload
 * straight into the writer's slab, with no builder and no copy. The writer
 * (lib/write/writer.ts `writeWith`) implements the reserve and the commit;
 * the schema-compiled codecs (lib/codec/) implement this interface.
 *
 * Owns: the PayloadEncoder interface. Imports: nothing.
 */

/**
 * Encodes values of type T as payloads, in place.
 *
 * The writer calls {@link PayloadEncoder.encodeInto} with the free space
 * of its current slab, `buf[at, limit)`. Alignment inside the payload is
 * relative to `at` (the payload's first byte), never to `buf`.
 */
export interface PayloadEncoder<T> {
  /** A name for error messages (e.g. the root table, `'events.Telemetry'`). */
  readonly name: string;
  /**
   * Writes the payload of `value` at `buf[at, …)` and returns its end
   * (exclusive), or -1 when it would not end at or before `limit` (the
   * bytes of `buf[at, limit)` are then unspecified; the writer retries in a
   * fresh slab). Throws a TypeError or RangeError naming the field for a
   * value it cannot encode; the writer then stages nothing. Must not keep
   * `buf` or `view` after returning. `view` is a DataView over all of
   * `buf`'s bytes (same buffer, same byteOffset).
   */
  encodeInto(value: T, buf: Uint8Array, view: DataView, at: number, limit: number): number;
  /**
   * The exact payload size of `value` in bytes: used only when the payload
   * does not fit an empty slab (the writer then stages it on its own).
   * Throws as encodeInto does.
   */
  sizeOf(value: T): number;
}
