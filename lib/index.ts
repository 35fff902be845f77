/**
 * flatstream: framed FlatBuffers streams for Node.js, byte-compatible with
 * the Rust crate flatstream-rs.
 *
 *     frame = [u32 LE payload length][checksum, 0–8 bytes LE][payload]
 *
 * @packageDocumentation
 */
export { native, nativeError } from './engine/load';
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
} from './format/checksum';
export {
  Framer,
  DefaultFramer,
  ChecksumFramer,
  type FramerOptions,
  Deframer,
  DefaultDeframer,
  ChecksumDeframer,
  type DeframerOptions,
  type Observer,
} from './format/framing';
export {
  type Validator,
  type VerifierLimits,
  type SchemaOptions,
  NoValidator,
  SizeValidator,
  TableRootValidator,
  TypedValidator,
  CompositeValidator,
} from './format/validation';
export {
  recover,
  recoverFile,
  type RecoveryReport,
  type RecoverOptions,
  type RecoverFileOptions,
} from './read/recover';
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
  UnfinishedBuilderError,
  ReaderBusyError,
  NativeRequiredError,
  StagingFullError,
  RecoveryRefusedError,
  type RecoveryRefusal,
  ReentrantCallError,
  NatsClientMissingError,
  BatchHeaderError,
  BatchContinuityError,
  type BatchBreak,
  ShipError,
  type ShipFailure,
  HeaderError,
  FormatMismatchError,
  FollowedFileChangedError,
  type FileChange,
} from './format/errors';
export { type Sink, MemorySink } from './sinks/sink';
export {
  type SlabSource,
  type SlabUnit,
  type SlabFormat,
  type RotationInfo,
} from './sinks/slab-source';
export {
  CaptureSink,
  type CaptureSinkEvents,
  type CaptureDropEvent,
  type CaptureLatency,
  type CapturePolicy,
  type CaptureRecovery,
  type CaptureSinkOptions,
  type CaptureStats,
} from './capture/capture-sink';
export {
  RotatingSink,
  type RotatingSinkOptions,
  type RotatingSinkStats,
  type RotationSettle,
} from './capture/rotating-sink';
export { listRotation, nextInRotation, rotationFile } from './format/rotation';
export { type CaptureGuarantees, type CaptureMode } from './capture/portable-capture';
export { FileSink, type FileSinkOptions, type FileWriteError } from './sinks/file-sink';
export { WritableSink, type WritableSinkOptions } from './sinks/writable-sink';
export {
  StreamWriter,
  type StreamWriterOptions,
  type WriterStats,
  type StreamSerialize,
  type WriteItem,
  type SinkTarget,
} from './write/writer';
export {
  Arena,
  type ArenaOptions,
  type ArenaStats,
  ARENA_BLOCK_ALIGN,
  ARENA_MAX_BLOCK_SIZE,
} from './write/arena';
export { ArenaBuilder, type ArenaBuilderOptions, type BlockSource } from './write/arena-builder';
export {
  type MemoryPolicy,
  AdaptiveWatermarkPolicy,
  type AdaptiveWatermarkOptions,
  NoShrinkPolicy,
} from './format/policy';
export {
  StreamReader,
  type StreamReaderOptions,
  type ReadSource,
  type FrameCallback,
  type TypedCallback,
  type GetRoot,
  type FrameInfo,
  type SkippedRange,
} from './read/reader';
export { type FollowOptions } from './read/follow';
export { DEFAULT_MAX_FRAME_LEN, WIRE_MAX_FRAME_LEN } from './format/kinds';
export {
  type HeaderOptions,
  type StreamHeader,
  HEADER_VERSION,
  encodeHeader,
  decodeHeader,
  detectHeader,
} from './format/header';
export { type PayloadEncoder } from './format/encoder';
export { type PayloadDecoder, type PayloadView } from './format/decoder';
export {
  compileSchema,
  type CompiledSchema,
  type CompileOptions,
  type TableCodec,
  type TableView,
} from './codec/compile';
export {
  JetStreamSource,
  type JetStreamSourceOptions,
  type JetStreamSourceStats,
  type FileStart,
  type DeliveredBatch,
} from './ship/source';
export { JetStreamSink, type JetStreamSinkOptions, type JetStreamSinkStats } from './ship/sink';
export {
  JetStreamShipper,
  type JetStreamShipperOptions,
  type ShipperStats,
  type ShipPosition,
} from './ship/shipper';
export { type StreamFile, naturalCompare } from './ship/files';
export {
  HDR_STREAM,
  HDR_FILE,
  HDR_OFFSET,
  HDR_FRAMES,
  type BatchPosition,
  batchMsgId,
  readBatchPosition,
} from './ship/wire';
