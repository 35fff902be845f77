/**
 * The module rules of lib/ (.dependency-cruiser.cjs, docs/design.md "Module
 * rules") hold for the tree as it is, and the check really fails: each rule
 * is broken once, on purpose, in a copy of lib/, and dependency-cruiser
 * must report exactly that rule for exactly that import.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.join(__dirname, '..');
const depcruise = path.join(root, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

// The json report always exits 0, so the exit status comes from a second
// run with the default reporter: the one `npm run check:modules` uses.
function cruise(dir: string): { status: number | null; violations: Violation[] } {
  const run = (...extra: string[]) =>
    spawnSync(
      process.execPath,
      [depcruise, '--config', '.dependency-cruiser.cjs', ...extra, 'lib'],
      {
        cwd: dir,
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      },
    );
  const json = run('--output-type', 'json');
  if (!json.stdout) throw new Error(`dependency-cruiser printed nothing: ${json.stderr}`);
  const out = JSON.parse(json.stdout) as { summary: { violations: Violation[] } };
  return { status: run().status, violations: out.summary.violations };
}

// One planted import per rule: [rule, file that gets the import, specifier].
const PLANTED: readonly (readonly [string, string, string])[] = [
  ['no-cycles', 'lib/format/kinds.ts', './checksum'],
  ['addon-only-in-engine', 'lib/format/args.ts', 'node-gyp-build'],
  ['engines-use-the-contract-not-the-loader', 'lib/engine/js/crc.ts', '../load'],
  ['engine-is-the-bottom', 'lib/engine/load.ts', '../format/args'],
  ['format-is-below-the-sides', 'lib/format/policy.ts', '../write/arena-builder'],
  ['write-never-reaches-read', 'lib/write/arena-builder.ts', '../read/sources'],
  ['read-never-reaches-write', 'lib/read/sources.ts', '../sinks/exit-hook'],
  ['sinks-below-writer-and-capture', 'lib/sinks/exit-hook.ts', '../write/arena-builder'],
  ['writer-and-capture-apart', 'lib/capture/capture-sink.ts', '../write/arena-builder'],
  ['only-index-is-the-facade', 'lib/read/recover.ts', '../index'],
  ['no-test-or-bench-in-lib', 'lib/format/errors.ts', '../../test/planted'],
  ['no-unresolvable', 'lib/format/args.ts', './no-such-module'],
  ['codec-on-format-and-engine', 'lib/codec/generate.ts', '../read/sources'],
  ['nothing-below-imports-codec', 'lib/read/sources.ts', '../codec/reflection'],
  ['cli-on-codec-and-read', 'lib/cli/gen.ts', '../write/writer'],
  ['nothing-imports-cli', 'lib/codec/compile.ts', '../cli/gen'],
  ['ship-on-read-and-sinks', 'lib/ship/wire.ts', '../write/writer'],
  ['only-facade-and-cli-import-ship', 'lib/sinks/exit-hook.ts', '../ship/wire'],
];

describe('module rules (.dependency-cruiser.cjs)', () => {
  let copy: string;

  beforeAll(() => {
    copy = fs.mkdtempSync(path.join(os.tmpdir(), 'flatstream-modules-'));
    fs.cpSync(path.join(root, 'lib'), path.join(copy, 'lib'), { recursive: true });
    for (const f of ['.dependency-cruiser.cjs', 'tsconfig.json', 'package.json'])
      fs.copyFileSync(path.join(root, f), path.join(copy, f));
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(copy, 'node_modules'), 'dir');
    fs.mkdirSync(path.join(copy, 'test'));
    fs.writeFileSync(path.join(copy, 'test/planted.ts'), 'export const planted = 1;\n');
  });

  afterAll(() => fs.rmSync(copy, { recursive: true, force: true }));

  test('the tree as it is breaks none of them', () => {
    const { status, violations } = cruise(root);
    expect(violations).toEqual([]);
    expect(status).toBe(0);
  });

  test('every rule is planted once', () => {
    const config = require(path.join(root, '.dependency-cruiser.cjs')) as {
      forbidden: { name: string }[];
    };
    expect(PLANTED.map(([rule]) => rule).sort()).toEqual(
      config.forbidden.map((r) => r.name).sort(),
    );
  });

  test('a planted import of each kind fails the check, reported under its rule', () => {
    for (const [, file, spec] of PLANTED)
      fs.appendFileSync(path.join(copy, file), `\nimport '${spec}';\n`);
    const { status, violations } = cruise(copy);
    expect(status).not.toBe(0);
    for (const [rule, file] of PLANTED) {
      // (a cycle is reported once, from whichever of its files comes first)
      const hit = violations.filter(
        (v) => v.rule.name === rule && (v.from === file || v.to === file),
      );
      expect({ rule, file, reported: hit.length > 0 }).toEqual({ rule, file, reported: true });
    }
  });

  test('the npm script is the check .ci/run runs', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts['check:modules']).toBe('depcruise --config .dependency-cruiser.cjs lib');
    expect(fs.readFileSync(path.join(root, 'scripts/test-all.mjs'), 'utf8')).toContain(
      "'check:modules'",
    );
  });
});
