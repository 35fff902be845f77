// Steady-state writing allocates nothing on the JS heap: counted in a fresh
// `node --expose-gc` process per scenario (jest's own allocations would
// otherwise be counted). Uses the built package (npm run build:ts).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const N = 1_000_000;

function run(scenario: string): { gcs: number; heapBytesPerMessage: number; frames: number } {
  const out = execFileSync(process.execPath, ['--expose-gc', join(__dirname, 'gc-child.js'), scenario, String(N)], {
    env: process.env,
  });
  return JSON.parse(out.toString());
}

describe.each(['writePayload', 'string', 'serialize', 'writeFinished'])('%s', (scenario) => {
  test(`${N} messages cause no GC and under a byte of heap per message`, () => {
    const r = run(scenario);
    expect(r.frames).toBe(N + 50_000);
    expect(r.gcs).toBe(0);
    // What remains is per slab (a view for the sink), not per message.
    expect(r.heapBytesPerMessage).toBeLessThan(1);
  });
});
