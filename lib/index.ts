/**
 * flatstream: framed FlatBuffers streams for Node.js, byte-compatible with
 * the Rust crate flatstream-rs.
 *
 *     frame = [u32 LE payload length][checksum, 0–8 bytes LE][payload]
 *
 * @packageDocumentation
 */
export { native, nativeError } from './backend';
export {
  type Checksum,
  type BuiltinChecksum,
  NoChecksum,
  Crc16,
  Crc32,
  XxHash64,
  Crc32c,
  Crc64,
  checksums,
} from './checksum';
export {
  Framer,
  DefaultFramer,
  ChecksumFramer,
  type FramerOptions,
  Deframer,
  DefaultDeframer,
  ChecksumDeframer,
  type DeframerOptions,
} from './framing';
export {
  FlatStreamError,
  type FlatStreamErrorCode,
  type FrameLocation,
  ChecksumMismatchError,
  UnexpectedEofError,
  type TornPart,
  InvalidFrameError,
  ValidationFailedError,
  IoError,
  ClosedError,
} from './errors';
export { type Sink, MemorySink } from './sink';
export { StreamWriter, type StreamWriterOptions, type WriterStats } from './writer';
export { StreamReader, type FrameCallback, type FrameInfo } from './reader';
export { DEFAULT_MAX_FRAME_LEN, WIRE_MAX_FRAME_LEN } from './kinds';
