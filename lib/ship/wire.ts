// The JetStream message contract shared by the shipper, the source and the
// sink (docs/design.md "Shipping to JetStream"): one message holds whole
// frames of one stream file, exactly as they lie in the file, and these
// headers say where they came from. The source checks continuity with them.

/** Stable id of the stream (from its header, else from its path). */
export const HDR_STREAM = 'Flatstream-Stream';
/** Sequence number of the file in its rotation set (0 for a lone file). */
export const HDR_FILE = 'Flatstream-File';
/** Byte offset, in that file, of the message's first frame (decimal). */
export const HDR_OFFSET = 'Flatstream-Offset';
/** Number of whole frames in the message (decimal). */
export const HDR_FRAMES = 'Flatstream-Frames';

/** Where one message's frames came from. */
export interface BatchPosition {
  readonly stream: string;
  readonly file: number;
  readonly offset: number;
  readonly frames: number;
}

/**
 * `Nats-Msg-Id` of a batch: `stream:file:fileId:offset:bytes`. A resend of
 * the same batch carries the same id, so JetStream's duplicate window drops
 * it; with the length in it one id names one range of bytes, so a batch cut
 * differently after a lost checkpoint is stored (a duplicate a consumer sees
 * by its position), never dropped as a resend of a shorter batch (a loss).
 * `fileId` names the file itself (the XXH3-64 of a headed file's header
 * frame, of a headerless file's device, inode and birth time; a sink's own
 * stream id): a new file under the same stream id and number (a directory
 * renumbered from 0 after a lost checkpoint, a new file at a lone file's
 * path) never has the ids of the old one's batches, so none of its batches
 * is dropped as a resend (docs/design.md, "Shipping to JetStream").
 */
export function batchMsgId(
  p: Pick<BatchPosition, 'stream' | 'file' | 'offset'> & {
    readonly fileId: string;
    readonly bytes: number;
  },
): string {
  return `${p.stream}:${p.file}:${p.fileId}:${p.offset}:${p.bytes}`;
}

/**
 * Bytes of the server's `max_payload` kept for a message's headers (the
 * four position headers and `Nats-Msg-Id`: well under 1 KiB for a 200-byte
 * stream id): a batch's frames take at most `max_payload` less this.
 */
export const HEADERS_ROOM = 4096;

/** What {@link setBatchHeaders} sets: a batch's position, its file's id and its length in bytes. */
export type BatchIdentity = BatchPosition & { readonly fileId: string; readonly bytes: number };

/**
 * Sets a batch's position headers on `h` (a NATS `MsgHdrs`) and returns its
 * `Nats-Msg-Id` ({@link batchMsgId}): the one place the shipper and the
 * sink build them.
 */
export function setBatchHeaders(
  h: { set(name: string, value: string): void },
  b: BatchIdentity,
): string {
  h.set(HDR_STREAM, b.stream);
  h.set(HDR_FILE, String(b.file));
  h.set(HDR_OFFSET, String(b.offset));
  h.set(HDR_FRAMES, String(b.frames));
  return batchMsgId(b);
}

/** The length field (u32 little-endian) of the frame whose header starts at `at` in `buf`. */
export function frameLength(buf: Uint8Array, at: number): number {
  return (buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24)) >>> 0;
}

const DECIMAL = /^(0|[1-9][0-9]{0,15})$/;

/**
 * Reads a message's position headers. Returns a reason string instead when a
 * header is missing or not a canonical non-negative safe integer.
 */
export function readBatchPosition(get: (name: string) => string): BatchPosition | string {
  const stream = get(HDR_STREAM);
  if (!stream) return `no ${HDR_STREAM} header`;
  const nums: number[] = [];
  for (const h of [HDR_FILE, HDR_OFFSET, HDR_FRAMES]) {
    const v = get(h);
    if (!DECIMAL.test(v) || !Number.isSafeInteger(Number(v))) {
      return v
        ? `${h} header ${JSON.stringify(v)} is not a non-negative integer`
        : `no ${h} header`;
    }
    nums.push(Number(v));
  }
  return { stream, file: nums[0]!, offset: nums[1]!, frames: nums[2]! };
}
