/**
 * Sink targets: what `new StreamWriter(target, …)` accepts, resolved to the
 * slab source the writer stages into (docs/design.md, "Slab protocol"): a
 * path, URL or fd becomes a FileSink, a Node `Writable` a WritableSink, and
 * every plain {@link Sink} is wrapped in {@link OwnedSlabs}; a
 * {@link SlabSource} (a CaptureSink) is used as it is. Also decides whether
 * the writer flushes at exit.
 *
 * Owns: SinkTarget, resolveTarget. Imports: format/args, sinks (FileSink,
 * WritableSink, OwnedSlabs, the protocols).
 */
import type { Writable } from 'node:stream';
import { typeError } from '../format/args';
import type { Deframer, Framer } from '../format/framing';
import { type HeaderOptions, checkHeaderOptions } from '../format/header';
import { FileSink } from '../sinks/file-sink';
import { OwnedSlabs } from '../sinks/owned-slabs';
import type { Sink } from '../sinks/sink';
import { isSlabSource, type SlabSource } from '../sinks/slab-source';
import { WritableSink } from '../sinks/writable-sink';

/**
 * Where a writer's frames go: a {@link Sink}, a {@link SlabSource} (a
 * CaptureSink), a file path or URL, a file descriptor, or a Node `Writable`.
 */
export type SinkTarget = Sink | SlabSource | string | URL | number | Writable;

/** The target options a writer passes on (see StreamWriterOptions). */
export interface TargetOptions {
  append?: boolean | undefined;
  recover?: Deframer | undefined;
  maxTornBytes?: number | undefined;
  flushOnExit?: boolean | undefined;
  header?: HeaderOptions | undefined;
}

/** A resolved target. */
export interface Resolved {
  /** What the writer exposes as `sink`: the Sink (made or given) or the SlabSource. */
  sink: Sink | SlabSource;
  source: SlabSource;
  /** Whether the writer registers with the exit hook. */
  flushOnExit: boolean;
  /** Whether the writer itself must write the header as its first frame. */
  writeHeader: boolean;
}

function isWritable(x: object): x is Writable {
  const w = x as Partial<Writable>;
  return (
    typeof w.write === 'function' &&
    typeof w.on === 'function' &&
    typeof w.end === 'function' &&
    typeof w.removeListener === 'function'
  );
}

function asyncExitSink(what: string): TypeError {
  return Object.assign(
    new TypeError(
      `The "flushOnExit" option cannot be true for ${what}: it cannot take frames synchronously at exit`,
    ),
    { code: 'ERR_INVALID_ARG_VALUE' },
  );
}

/**
 * Resolves `target`. Owned slabs are `slabSize` bytes with `builderSize`
 * bytes of builder scratch after each. `flushOnExit: true` is refused for a
 * Writable and a SlabSource before either is touched (the stream gets no
 * listener, the source stays unbound).
 */
export function resolveTarget(
  target: SinkTarget,
  options: TargetOptions | undefined,
  slabSize: number,
  builderSize: number,
  framer: Framer,
): Resolved {
  const flushOnExit = options?.flushOnExit; // a boolean or undefined: checked by the writer
  const header = options?.header;
  if (header !== undefined) checkHeaderOptions(header);
  let sink: Sink;
  let writeHeader = header !== undefined;
  if (typeof target === 'string' || typeof target === 'number' || target instanceof URL) {
    const { append, recover, maxTornBytes } = options ?? {};
    if (typeof target === 'number' && header !== undefined)
      throw typeError(
        'The "header" option applies to a path, not an fd: whether the stream is new cannot be told',
      );
    sink = new FileSink(target, {
      ...(append === undefined ? {} : { append }),
      ...(recover === undefined ? {} : { recover }),
      ...(maxTornBytes === undefined ? {} : { maxTornBytes }),
      // The append check and the header are the FileSink's (paths only).
      ...(typeof target === 'number' ? {} : { framer }),
      ...(header === undefined ? {} : { header }),
    });
    writeHeader = false;
  } else if (typeof target === 'object' && target !== null) {
    if (target instanceof WritableSink || isWritable(target)) {
      if (flushOnExit === true) throw asyncExitSink('a Writable');
      sink = target instanceof WritableSink ? target : new WritableSink(target);
    } else if (header !== undefined && (target instanceof FileSink || isSlabSource(target))) {
      throw typeError(
        `The "header" option of a StreamWriter does not apply to a ${target instanceof FileSink ? 'FileSink' : ((target as object).constructor?.name ?? 'CaptureSink')} you made: give it to that sink`,
      );
    } else if (isSlabSource(target)) {
      // A RotatingSink over files asks for the writer's exit flush; a capture has its own.
      const wants = target.flushOnExit === true;
      if (flushOnExit === true && !wants)
        throw asyncExitSink('a CaptureSink (it has its own exit hook)');
      return {
        sink: target,
        source: target,
        flushOnExit: flushOnExit ?? wants,
        writeHeader: false,
      };
    } else if (typeof (target as Sink).write === 'function') {
      sink = target as Sink;
    } else {
      throw sinkTypeError();
    }
  } else {
    throw sinkTypeError();
  }
  return {
    sink,
    source: new OwnedSlabs(sink, slabSize, builderSize),
    flushOnExit: flushOnExit ?? sink instanceof FileSink,
    writeHeader,
  };
}

function sinkTypeError(): TypeError {
  return typeError('The "sink" argument must be a Sink, a path, a file descriptor or a Writable');
}
