/**
 * The published types (dist/: `npm run build:ts` first), as a user's project
 * sees them (docs/design.md, "Packaging"): compiled with tsc, strict and
 * WITHOUT skipLibCheck, so a public declaration that names a type stripped
 * as `@internal` is an error here. The fixtures assert with
 * `@ts-expect-error` and an exact-type check, so each fails when the typing
 * it tests is gone: typed CaptureSink events, the stripped internals, and
 * a CaptureSink still accepted by StreamWriter (its slab protocol stays
 * public). Type-level only: the same in both engine modes.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flatstream-types-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Type-checks `source` against the published types: tsc's output (empty when clean). */
function typecheck(source: string): string {
  writeFileSync(join(dir, 'consumer.ts'), source);
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        lib: ['ES2022'],
        types: ['node'],
        typeRoots: [join(ROOT, 'node_modules/@types')],
        skipLibCheck: false,
        baseUrl: '.',
        paths: { flatstream: [join(ROOT, 'dist/cjs/index.d.ts')] },
      },
      files: ['consumer.ts'],
    }),
  );
  const r = spawnSync(
    process.execPath,
    [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(dir, 'tsconfig.json')],
    { encoding: 'utf8' },
  );
  return (r.stdout + r.stderr).replaceAll(dir, '<dir>').trim();
}

const EXACT = `
type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function exact<A, B>(_proof: Equals<A, B>): void {}
`;

test('the public .d.ts compile clean without skipLibCheck, and a CaptureSink is a StreamWriter target', () => {
  expect(
    typecheck(`
import * as f from 'flatstream';
const sink = new f.CaptureSink('events.fst');
const writer = new f.StreamWriter(sink, new f.ChecksumFramer(f.XxHash64));
writer.writePayload(new Uint8Array(1));
const v: f.Validator = new f.SizeValidator(1, 2);
new f.StreamWriter(new f.MemorySink(), new f.DefaultFramer().withValidator(v));
`),
  ).toBe('');
});

test("CaptureSink events are typed: 'drop' gets a CaptureDropEvent, 'error' an IoError, others are errors", () => {
  expect(
    typecheck(`
import { CaptureSink, IoError, type CaptureDropEvent, type CaptureSinkEvents } from 'flatstream';
${EXACT}
const sink = new CaptureSink('events.fst');
sink.on('drop', (e) => exact<typeof e, CaptureDropEvent>(true));
sink.once('error', (err) => exact<typeof err, IoError>(true));
sink.off('drop', (e: CaptureDropEvent) => e.frames + e.bytes);
exact<CaptureSinkEvents['drop'], [event: CaptureDropEvent]>(true);
// @ts-expect-error: no such event
sink.on('dropped', () => {});
// @ts-expect-error: a 'drop' listener does not get a string
sink.on('drop', (e: string) => e);
// @ts-expect-error: emit checks the arguments too
sink.emit('drop', { frames: 1 });
`),
  ).toBe('');
});

test('@internal members are not in the public types', () => {
  expect(
    typecheck(`
import * as f from 'flatstream';
const sink = new f.CaptureSink('events.fst');
// @ts-expect-error: a test hook, stripped
sink._injectFault({ afterWrites: 1 });
// @ts-expect-error: the native spec of a built-in validator, stripped
void new f.SizeValidator(1, 2).spec;
// @ts-expect-error: the framer's native kind, stripped
void new f.DefaultFramer().kind;
`),
  ).toBe('');
});

test('the check itself fails on a type error (it is not vacuous)', () => {
  const out = typecheck(`
import { CaptureSink } from 'flatstream';
new CaptureSink('events.fst').on('drop', (e) => e.nope);
`);
  expect(out).toContain("error TS2339: Property 'nope' does not exist on type 'CaptureDropEvent'.");
});
