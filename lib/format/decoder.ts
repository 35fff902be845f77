/**
 * The seam between the reader and payload decoders (docs/design.md
 * "Schema-compiled codecs"): `StreamReader.processWith` binds ONE reused
 * view to each payload in turn; the schema-compiled codecs (lib/codec/)
 * implement this interface.
 *
 * Owns: the PayloadDecoder and PayloadView interfaces. Imports: nothing.
 */

/** A reused accessor over one payload (a flyweight): bound, read, rebound. */
export interface PayloadView {
  /**
   * Points this view at the payload that starts at `buf[at]` (its root
   * offset) and returns it. `view` is a DataView over all of `buf`'s bytes
   * (same buffer, same byteOffset). Allocates nothing.
   */
  $bind(buf: Uint8Array, view: DataView, at: number): this;
}

/** Makes the reused views of one message type. */
export interface PayloadDecoder<V extends PayloadView> {
  /** A name for error messages (e.g. the root table, `'events.Telemetry'`). */
  readonly name: string;
  /** A new, unbound view; a reader makes one per call and reuses it for every frame. */
  createView(): V;
}
