// The flatc-generated TypeScript of test/schema/events.fbs (test/generated/),
// compiled unchanged to CommonJS for the benchmarks, in two copies:
//
//   bench/.generated/arena/  requires the project's `flatbuffers` (the one
//                            ArenaBuilder extends), for the ArenaBuilder and
//                            StreamWriter rows;
//   bench/.generated/stock/  requires a private copy of `flatbuffers` kept
//                            beside it, for the stock-Builder rows.
//
// Why two: ArenaBuilder inherits most of flatbuffers.Builder's methods. With
// one copy, those methods (and the generated code) would see both builder
// classes in one process and their call sites would go polymorphic, which a
// real program using one builder never pays. Both copies are byte-identical
// generated code; only module resolution differs. Recompiled when a source
// is newer than the last compilation. bench/.generated/ is not committed.
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = join(root, 'test/generated');
const out = join(root, 'bench/.generated');
const stamp = join(out, 'stamp');

const tsFiles = (dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory()
      ? tsFiles(join(dir, d.name))
      : d.name.endsWith('.ts')
        ? [join(dir, d.name)]
        : [],
  );

function stale(files) {
  if (!existsSync(stamp) || !existsSync(join(out, 'stock/node_modules/flatbuffers'))) return true;
  const t = statSync(stamp).mtimeMs;
  const fbPkg = join(root, 'node_modules/flatbuffers/package.json');
  return [...files, fbPkg].some((f) => statSync(f).mtimeMs > t);
}

/** Compiles (if needed) and loads both copies: { arena, stock, stockFlatbuffers }. */
export function loadGenerated() {
  const files = tsFiles(src);
  if (stale(files)) {
    rmSync(out, { recursive: true, force: true });
    const arenaDir = join(out, 'arena');
    execFileSync(
      process.execPath,
      [
        join(root, 'node_modules/typescript/bin/tsc'),
        '--outDir',
        arenaDir,
        '--rootDir',
        src,
        '--module',
        'commonjs',
        '--target',
        'ES2022',
        '--moduleResolution',
        'node',
        '--skipLibCheck',
        ...files.map((f) => relative(root, f)),
      ],
      { cwd: root, stdio: 'inherit' },
    );
    const stockDir = join(out, 'stock');
    cpSync(arenaDir, stockDir, { recursive: true });
    const fb = join(root, 'node_modules/flatbuffers');
    const fbCopy = join(stockDir, 'node_modules/flatbuffers');
    mkdirSync(fbCopy, { recursive: true });
    cpSync(join(fb, 'package.json'), join(fbCopy, 'package.json'));
    cpSync(join(fb, 'js'), join(fbCopy, 'js'), { recursive: true });
    writeFileSync(stamp, new Date().toISOString() + '\n');
  }
  const require = createRequire(import.meta.url);
  const load = (dir) => ({
    ...require(join(out, dir, 'events_generated.js')),
    Telemetry: require(join(out, dir, 'events/telemetry.js')).Telemetry,
  });
  const arena = load('arena');
  const stock = load('stock');
  const stockFlatbuffers = require(join(out, 'stock/node_modules/flatbuffers'));
  const mainFlatbuffers = require(join(root, 'node_modules/flatbuffers'));
  if (stockFlatbuffers === mainFlatbuffers || stock.Telemetry === arena.Telemetry) {
    throw new Error('bench/generated: the stock copy did not get its own flatbuffers');
  }
  return { arena, stock, stockFlatbuffers, mainFlatbuffers };
}
