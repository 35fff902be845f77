/**
 * `flatstream gen` (lib/cli/): the TS it writes for the test schemas is
 * strict-clean (tsc --strict) and encodes byte-identically to
 * compileSchema; a missing flatc and a wrong input are clear errors. Runs
 * the built CLI (dist/: `npm run build:ts` first).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ts from 'typescript';
import { compileSchema, type TableCodec } from '../lib/index';
import { richSample } from './codec-arbs';

const ROOT = join(__dirname, '..');
const CLI = join(ROOT, 'dist/cjs/cli/main.js');
const OUT = join(ROOT, 'build-codec', `gen-${process.pid}`);
const SCHEMAS = [
  'test/schema/events.fbs',
  'test/schema/coverage.fbs',
  'test/schema-cpp/arrays.fbs',
];

function flatstream(args: string[], env: NodeJS.ProcessEnv = process.env) {
  return spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, env, encoding: 'utf8' });
}

/** Loads a generated module: its only import is type-only, so the transpiled JS stands alone. */
function load(file: string): Record<string, unknown> {
  const js = ts.transpileModule(readFileSync(file, 'utf8'), {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  const exports: Record<string, unknown> = {};
  new Function('exports', 'require', js)(exports, () => {
    throw new Error('a generated module requires nothing at run time');
  });
  return exports;
}

beforeAll(() => {
  rmSync(OUT, { recursive: true, force: true });
  for (const s of SCHEMAS) {
    const r = flatstream(['gen', s, '-o', OUT]);
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  }
  // a .bfbs is read as is
  const r = flatstream(['gen', 'test/generated/events.bfbs', '-o', join(OUT, 'bfbs')]);
  expect(r.status).toBe(0);
});
afterAll(() => rmSync(OUT, { recursive: true, force: true }));

test('the generated TS type-checks under tsc --strict, noUnused* (ESM resolution)', () => {
  writeFileSync(
    join(OUT, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noUnusedLocals: true,
        noUnusedParameters: true,
        noEmit: true,
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        lib: ['ES2022', 'DOM'],
        types: [],
        skipLibCheck: true,
        baseUrl: '.',
        // the published types, as a user's project sees them
        paths: { flatstream: [join(ROOT, 'dist/cjs/index.d.ts')] },
      },
      files: [
        'events.codecs.ts',
        'coverage.codecs.ts',
        'arrays.codecs.ts',
        'bfbs/events.codecs.ts',
      ],
    }),
  );
  const r = spawnSync(
    process.execPath,
    [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(OUT, 'tsconfig.json')],
    {
      encoding: 'utf8',
    },
  );
  expect(r.stdout + r.stderr).toBe('');
  expect(r.status).toBe(0);
});

test('the generated codecs encode byte-identically to compileSchema, and export the schema identity', () => {
  const bfbs = readFileSync(join(ROOT, 'test/generated/events.bfbs'));
  const mem = compileSchema(bfbs);
  const gen = load(join(OUT, 'bfbs/events.codecs.ts'));
  expect(gen.schema).toEqual({
    namespace: 'events',
    rootType: 'events.RichEvent',
    fileIdentifier: '',
    hash: mem.hash,
  });
  const Telemetry = gen.Telemetry as TableCodec;
  const Rich = gen.RichEvent as TableCodec;
  expect(Telemetry.name).toBe('events.Telemetry');
  const values = [
    { deviceId: 1001, timestamp: 1_700_000_000_000_000_000n, value: 0.25 },
    { deviceId: 2n ** 64n - 1n, value: -0 },
    {},
  ];
  for (const v of values)
    expect(Telemetry.encode(v)).toEqual(mem.tables['events.Telemetry']!.encode(v));
  const rich = richSample;
  const bytes = Rich.encode(rich);
  expect(bytes).toEqual(mem.root!.encode(rich));
  expect(Rich.decode(bytes)).toEqual(mem.root!.decode(bytes));
  // the .fbs (through flatc --bfbs-builtins) gives the same bytes
  const fromFbs = load(join(OUT, 'events.codecs.ts'));
  expect((fromFbs.RichEvent as TableCodec).encode(rich)).toEqual(bytes);
  // the coverage schema: file identifier and the same bytes as in memory
  const cov = load(join(OUT, 'coverage.codecs.ts'));
  expect(cov.schema).toMatchObject({
    namespace: 'covg',
    rootType: 'covg.Root',
    fileIdentifier: 'COVG',
  });
  const v = {
    req: 'x',
    reqInner: { a: 1, b: 2 },
    vLeaf: [{ s: 'a' }],
    anyType: 2,
    any: { x: -1n, y: ['p'] },
  };
  const covMem = compileSchema(
    execFileSync('flatc', [
      '-b',
      '--schema',
      '--bfbs-builtins',
      '-o',
      OUT,
      join(ROOT, 'test/schema/coverage.fbs'),
    ]) && readFileSync(join(OUT, 'coverage.bfbs')),
  );
  expect((cov.Root as TableCodec).encode(v)).toEqual(covMem.root!.encode(v));
});

test('--root-type chooses the table that writes the file identifier', () => {
  const dir = join(OUT, 'root');
  const r = flatstream(['gen', 'test/schema/coverage.fbs', '-o', dir, '--root-type', 'covg.Leaf']);
  expect(r.status).toBe(0);
  const mod = load(join(dir, 'coverage.codecs.ts'));
  expect(mod.schema).toMatchObject({ rootType: 'covg.Leaf', fileIdentifier: 'COVG' });
  const leaf = (mod.Leaf as TableCodec).encode({ s: 'x' });
  expect(Buffer.from(leaf.subarray(4, 8)).toString()).toBe('COVG');
  const root = (mod.Root as TableCodec).encode({ req: '', reqInner: { a: 0, b: 0 } });
  expect(Buffer.from(root.subarray(4, 8)).toString()).not.toBe('COVG');
  const bad = flatstream([
    'gen',
    'test/schema/coverage.fbs',
    '-o',
    dir,
    '--root-type',
    'covg.Nope',
  ]);
  expect([bad.status, bad.stderr]).toEqual([
    1,
    'rootType covg.Nope is not a table of the schema\n',
  ]);
});

test('a .fbs without flatc on PATH, a wrong input and bad arguments are clear errors', () => {
  const noFlatc = flatstream(['gen', 'test/schema/events.fbs', '-o', OUT], {
    ...process.env,
    PATH: '',
  });
  expect(noFlatc.status).toBe(1);
  expect(noFlatc.stderr).toBe(
    "flatstream gen: flatc is not on PATH; it is needed to read test/schema/events.fbs (install flatc, e.g. Debian's flatbuffers-compiler, or pass a .bfbs made with flatc -b --schema)\n",
  );
  const txt = flatstream(['gen', 'README.md', '-o', OUT]);
  expect([txt.status, txt.stderr]).toEqual([
    1,
    'flatstream gen: README.md is neither a .fbs nor a .bfbs schema\n',
  ]);
  mkdirSync(join(OUT, 'bad'), { recursive: true });
  writeFileSync(join(OUT, 'bad/bad.fbs'), 'table { nope');
  const bad = flatstream(['gen', join(OUT, 'bad/bad.fbs'), '-o', OUT]);
  expect(bad.status).toBe(1);
  expect(bad.stderr).toMatch(/^flatstream gen: flatc failed on .*bad\.fbs: .*error/);
  const usage = flatstream(['gen', 'x.fbs']);
  expect([usage.status, usage.stderr]).toEqual([
    2,
    'usage: flatstream gen <schema.fbs|schema.bfbs> -o <dir> [--root-type <ns.Table>]\n',
  ]);
});
