/**
 * The release workflow (.github/workflows/release.yml) cannot run here, so
 * scripts/check-workflow.mjs checks it on paper (docs/design.md, "Release
 * workflow"). The real file passes every check, and each check really
 * fails: one planted defect per copy of the file, and exactly the check
 * for it must fail. Engine-independent: the same in both modes.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');
const WORKFLOW = readFileSync(join(ROOT, '.github/workflows/release.yml'), 'utf8');
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flatstream-workflow-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the check on `text`: exit status, summary line and the failed checks. */
function checkText(text: string): { status: number | null; summary: string; failed: string[] } {
  const file = join(dir, 'release.yml');
  writeFileSync(file, text);
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts/check-workflow.mjs'), file], {
    encoding: 'utf8',
  });
  const lines = r.stdout.split('\n');
  return {
    status: r.status,
    summary: lines.find((l) => l.startsWith('check-workflow: ')) ?? r.stderr,
    failed: lines.filter((l) => l.startsWith('FAIL ')).map((l) => l.slice(5).split(':')[0]),
  };
}

/** The workflow with `from` (which must occur exactly once) replaced by `to`. */
function plant(from: string, to: string): string {
  if (WORKFLOW.split(from).length !== 2) throw new Error(`not exactly once: ${from}`);
  return WORKFLOW.replace(from, to);
}

test('the release workflow passes every check', () => {
  expect(checkText(WORKFLOW)).toEqual({
    status: 0,
    summary: 'check-workflow: 9 passed, 0 failed',
    failed: [],
  });
});

test.each([
  [
    'a duplicate key',
    plant('    timeout-minutes: 15\n', '    timeout-minutes: 15\n    timeout-minutes: 20\n'),
    ['the YAML parses (strict'],
  ],
  [
    'an unpinned action',
    plant(
      '      - uses: actions/checkout@v4\n      - uses: actions/setup-node@v4\n',
      '      - uses: actions/checkout@main\n      - uses: actions/setup-node@v4\n',
    ),
    ['every job has a runner and steps; every step one of uses/run, pinned'],
  ],
  [
    'a needs that names no job',
    plant('    needs: assemble\n', '    needs: assembly\n'),
    [
      'every job has a runner and steps; every step one of uses/run, pinned',
      'assemble needs every prebuild; publish needs assemble, only for v* tags, with an OIDC token',
    ],
  ],
  [
    'a matrix entry without a value the job uses',
    plant(
      "            runner: windows-2022\n            image: ''\n",
      '            runner: windows-2022\n',
    ),
    ['every matrix value a job uses is set in each of its entries'],
  ],
  [
    'an npm script that does not exist',
    plant(
      'FLATSTREAM_NATIVE=0 npm run test:portable\n',
      'FLATSTREAM_NATIVE=0 npm run test:portables\n',
    ),
    ['every npm script, npx binary and scripts/ file the workflow runs exists'],
  ],
  [
    'a target missing from the matrix',
    plant(
      "          - target: darwin-arm64\n            runner: macos-15\n            image: ''\n",
      '',
    ),
    [
      'the prebuild matrix is exactly the 7 release targets',
      'each target runs on its own OS and architecture (Alpine for musl)',
    ],
  ],
  [
    'an arm64 target on an x64 runner',
    plant(
      '            runner: ubuntu-24.04-arm\n            image: node:20-alpine3.20\n',
      '            runner: ubuntu-24.04\n            image: node:20-alpine3.20\n',
    ),
    ['each target runs on its own OS and architecture (Alpine for musl)'],
  ],
  [
    'publishing on every run',
    plant("    if: startsWith(github.ref, 'refs/tags/v')\n", ''),
    ['assemble needs every prebuild; publish needs assemble, only for v* tags, with an OIDC token'],
  ],
])('%s fails exactly its check', (_what: string, text: string, failing: string[]) => {
  const r = checkText(text);
  expect(r.status).toBe(1);
  expect(r.failed).toEqual(failing);
});
