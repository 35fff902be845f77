// Shared by the capture reliability and shutdown suites: a sink and writer
// on a temporary stream, reopening, and reading a stream back checked frame
// by frame against what capture-child.js writes.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  CaptureSink,
  ChecksumDeframer,
  ChecksumFramer,
  StreamReader,
  StreamWriter,
  XxHash64,
  native,
  type CaptureStats,
} from '../lib/index';

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const child = require('./capture-child.js') as {
  makePayloads(cap?: number): (gen: number, i: number) => Buffer;
};
export const CHILD = join(__dirname, 'capture-child.js');

/** The stream dir/<name>.fst and its staging file dir/<name>.staging. */
export const capturePaths = (dir: string, name: string) => ({
  file: join(dir, `${name}.fst`),
  staging: join(dir, `${name}.staging`),
});

/** A sink and its writer (XXH3 frames) on dir/<name>.fst. */
export function openCapture(dir: string, name: string, options: Record<string, unknown> = {}) {
  const { file, staging } = capturePaths(dir, name);
  const sink = new CaptureSink(file, { stagingPath: staging, ...options });
  const writer = new StreamWriter(sink, new ChecksumFramer(XxHash64));
  return { file, staging, sink, writer };
}

/** Opens the sink once more (draining what a dead writer staged) and closes it cleanly. */
export async function reopenAndClose(
  dir: string,
  name: string,
  options: Record<string, unknown> = {},
): Promise<CaptureStats> {
  const { sink, writer } = openCapture(dir, name, options);
  const stats = sink.stats();
  writer.close();
  await writer.finished();
  return stats;
}

export interface Frame {
  gen: number;
  i: number;
}

/**
 * Reads a stream file end to end (it must verify) and checks every payload
 * byte for byte against what capture-child.js generates for its (gen, i).
 */
export function readFrames(file: string, cap?: number): Frame[] {
  const frames: Frame[] = [];
  if (!existsSync(file)) return frames;
  const expected = child.makePayloads(cap);
  const bad: string[] = [];
  new StreamReader(file, new ChecksumDeframer(XxHash64)).processAll((p) => {
    const head = Buffer.from(p.buffer, p.byteOffset, Math.min(8, p.length));
    const gen = p.length >= 8 ? head.readUInt32LE(0) : -1;
    const i = p.length >= 8 ? head.readUInt32LE(4) : -1;
    if (
      bad.length < 5 &&
      Buffer.compare(Buffer.from(p.buffer, p.byteOffset, p.length), expected(gen, i)) !== 0
    )
      bad.push(
        `frame ${frames.length} (gen ${gen}, i ${i}, ${p.length} bytes) differs from the expected payload`,
      );
    frames.push({ gen, i });
  });
  expect(bad).toEqual([]);
  return frames;
}

/** Frames 0..n-1 of generation `gen`, in order, and nothing else. */
export function expectExactly(frames: Frame[], n: number, gen = 0): void {
  const firstBad = frames.findIndex((f, k) => f.gen !== gen || f.i !== k);
  expect({ frames: frames.length, firstOutOfOrder: firstBad }).toEqual({
    frames: n,
    firstOutOfOrder: -1,
  });
}

/** The test-only switch that forces portable mode where the addon is loaded (children inherit it). */
export const FORCE_PORTABLE = 'FLATSTREAM_TEST_PORTABLE_CAPTURE';

/** The capture modes this run can test: both with the addon, portable mode without. */
export const CAPTURE_MODES = native ? (['native', 'portable'] as const) : (['portable'] as const);

/** Inside a `describe.each(CAPTURE_MODES)`: forces portable mode for the block when `mode` is 'portable'. */
export function inCaptureMode(mode: (typeof CAPTURE_MODES)[number]): void {
  beforeAll(() => {
    if (mode === 'portable' && native) process.env[FORCE_PORTABLE] = '1';
  });
  afterAll(() => {
    delete process.env[FORCE_PORTABLE];
  });
}
