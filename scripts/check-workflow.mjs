// Checks the release workflow on paper (docs/design.md, "Release workflow"):
// it cannot run here, so everything that can be known without running it is
// checked. The YAML parses with the `yaml` package (strict: a duplicate key
// or a parse warning fails); every job has a runner and steps, every step
// exactly one of `uses` (a pinned major version) or `run`; every `needs`
// names a job; every `${{ matrix.X }}` a job uses is set in each of its
// matrix entries; every `npm run NAME` names a package.json script, every
// `npx NAME` a devDependency's binary, every `scripts/...` path a file; the
// prebuild matrix is exactly the seven release targets, and the targets
// scripts/ci-release.sh gives pack-test are the same seven; publish runs
// only for a version tag, after assemble, with an OIDC token.
// Usage: node scripts/check-workflow.mjs [FILE] (default
// .github/workflows/release.yml). Prints "check-workflow: N passed, N failed".
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import { checks } from './checks.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const file = process.argv[2] ?? join(root, '.github/workflows/release.yml');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const { check, done } = checks('check-workflow');

/** The seven prebuilds a release ships (README, "Native addon and fallback"). */
const TARGETS = [
  'linux-x64-glibc',
  'linux-arm64-glibc',
  'linux-x64-musl',
  'linux-arm64-musl',
  'darwin-x64',
  'darwin-arm64',
  'win32-x64',
];

const doc = parseDocument(readFileSync(file, 'utf8'), { uniqueKeys: true, prettyErrors: false });
const issues = [...doc.errors, ...doc.warnings].map((e) => e.message.split('\n')[0]);
check(
  'the YAML parses (strict: no duplicate keys, no warnings)',
  issues.length === 0,
  issues.join('; '),
);
if (issues.length > 0) done();
const wf = doc.toJS();
const jobs = wf?.jobs ?? {};
const names = Object.keys(jobs);

check(
  'triggers: version tags, pull requests, manual runs; read-only token by default',
  wf.on?.push?.tags?.includes('v*') &&
    'pull_request' in (wf.on ?? {}) &&
    'workflow_dispatch' in (wf.on ?? {}) &&
    wf.permissions?.contents === 'read',
);

const bad = [];
for (const [name, job] of Object.entries(jobs)) {
  if (!job['runs-on']) bad.push(`${name}: no runs-on`);
  if (!Array.isArray(job.steps) || job.steps.length === 0) bad.push(`${name}: no steps`);
  for (const [i, step] of (job.steps ?? []).entries()) {
    const kinds = ['uses', 'run'].filter((k) => k in step);
    if (kinds.length !== 1) bad.push(`${name} step ${i + 1}: needs exactly one of uses/run`);
    if (step.uses && !/^[\w.-]+\/[\w.-]+@(v\d+|[0-9a-f]{40})$/.test(step.uses))
      bad.push(`${name} step ${i + 1}: ${step.uses} is not pinned to a major version`);
  }
  for (const need of [job.needs ?? []].flat())
    if (!names.includes(need)) bad.push(`${name}: needs ${need}, no such job`);
}
check(
  'every job has a runner and steps; every step one of uses/run, pinned',
  bad.length === 0,
  bad.join('; '),
);

// Every ${{ matrix.X }} used in a job is set in each of its matrix entries.
const unset = [];
for (const [name, job] of Object.entries(jobs)) {
  const used = [...JSON.stringify(job).matchAll(/\$\{\{\s*matrix\.([\w-]+)\s*\}\}/g)].map(
    (m) => m[1],
  );
  const entries = job.strategy?.matrix?.include ?? [];
  for (const key of new Set(used)) {
    if (entries.length === 0) unset.push(`${name}: matrix.${key} with no matrix`);
    for (const e of entries)
      if (!(key in e)) unset.push(`${name}: ${e.target ?? '?'} lacks ${key}`);
  }
}
check(
  'every matrix value a job uses is set in each of its entries',
  unset.length === 0,
  unset.join('; '),
);

// What the run steps name exists.
const runs = Object.values(jobs)
  .flatMap((j) => j.steps ?? [])
  .map((s) => s.run ?? '')
  .join('\n');
const helper = readFileSync(join(root, 'scripts/ci-release.sh'), 'utf8');
const text = `${runs}\n${helper}`;
const missing = [];
for (const [, script] of text.matchAll(/npm run ([\w:-]+)/g))
  if (!pkg.scripts?.[script]) missing.push(`npm run ${script}`);
const bins = new Set(['prebuildify', 'jest', 'tsc', 'attw', 'publint', 'node-gyp']);
for (const [, bin] of text.matchAll(/npx ([\w@/.-]+)/g)) {
  const dep = { tsc: 'typescript', attw: '@arethetypeswrong/cli' }[bin] ?? bin;
  if (!bins.has(bin) || !pkg.devDependencies?.[dep]) missing.push(`npx ${bin}`);
}
for (const [path] of text.matchAll(/scripts\/[\w.-]+\.(?:sh|mjs|cjs)/g))
  if (!existsSync(join(root, path))) missing.push(path);
check(
  'every npm script, npx binary and scripts/ file the workflow runs exists',
  missing.length === 0,
  missing.join(', '),
);

const matrix = (jobs.prebuild?.strategy?.matrix?.include ?? []).map((e) => e.target);
check(
  `the prebuild matrix is exactly the ${TARGETS.length} release targets`,
  JSON.stringify([...matrix].sort()) === JSON.stringify([...TARGETS].sort()),
  matrix.join(', '),
);
const runners = Object.fromEntries(
  (jobs.prebuild?.strategy?.matrix?.include ?? []).map((e) => [e.target, e]),
);
const archOk = TARGETS.every((t) => {
  const e = runners[t];
  if (!e) return false;
  if (t.startsWith('linux-'))
    return (
      e.runner === (t.includes('arm64') ? 'ubuntu-24.04-arm' : 'ubuntu-24.04') &&
      (t.endsWith('musl') ? /alpine/ : /bookworm/).test(e.image)
    );
  if (t.startsWith('darwin-'))
    return /^macos-/.test(e.runner) && t.endsWith('x64') === /intel/.test(e.runner);
  return /^windows-/.test(e.runner);
});
check('each target runs on its own OS and architecture (Alpine for musl)', archOk);
const assembledTargets = /^TARGETS="([^"]*)"/m.exec(helper)?.[1].split(' ') ?? [];
check(
  'assemble gives pack-test the same seven targets',
  JSON.stringify(assembledTargets.map((t) => t.replace(':', '-')).sort()) ===
    JSON.stringify([...TARGETS].sort()) && /ci-release\.sh assemble/.test(runs),
  assembledTargets.join(' '),
);
check(
  'assemble needs every prebuild; publish needs assemble, only for v* tags, with an OIDC token',
  [jobs.assemble?.needs].flat().includes('prebuild') &&
    [jobs.publish?.needs].flat().includes('assemble') &&
    jobs.publish?.if === "startsWith(github.ref, 'refs/tags/v')" &&
    jobs.publish?.permissions?.['id-token'] === 'write' &&
    /ci-release\.sh check-tag/.test(runs),
);
done();
