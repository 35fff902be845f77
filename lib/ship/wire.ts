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
 * `Nats-Msg-Id` of a batch: `stream:file:offset:bytes`. A resend of the
 * same batch carries the same id, so JetStream's duplicate window drops it;
 * with the length in it one id names one range of bytes, so a batch cut
 * differently after a lost checkpoint is stored (a duplicate a consumer sees
 * by its position), never dropped as a resend of a shorter batch (a loss;
 * docs/design.md, "Shipping to JetStream").
 */
export function batchMsgId(
  p: Pick<BatchPosition, 'stream' | 'file' | 'offset'> & { readonly bytes: number },
): string {
  return `${p.stream}:${p.file}:${p.offset}:${p.bytes}`;
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
