// Steady-state writing allocates nothing on the JS heap: counted in a fresh
// `node --expose-gc` process per scenario (jest's own allocations would
// otherwise be counted), with v8.GCProfiler. Uses the built package
// (npm run build:ts).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { native } from '../lib/index';

const N = 1_000_000;

function run(scenario: string): {
  gcs: number;
  heapBytesPerMessage: number;
  frames: number;
  drops: number;
} {
  const out = execFileSync(
    process.execPath,
    ['--expose-gc', join(__dirname, 'gc-child.js'), scenario, String(N)],
    {
      env: process.env,
    },
  );
  return JSON.parse(out.toString());
}

// Paths where no JS value crosses into the builder: exactly zero.
describe.each(['writePayload', 'string'])('%s', (scenario) => {
  test(`${N} messages cause no GC and under a byte of heap per message`, () => {
    const r = run(scenario);
    expect(r.frames).toBe(N + 200_000);
    expect(r.gcs).toBe(0);
    expect(r.heapBytesPerMessage).toBeLessThan(1); // what remains is per slab: one view for the sink
  });
});

// A writer to a file is registered with the exit hook: it arms and disarms
// once per slab, never per frame.
describe.each(['file-writePayload', 'file-string'])('%s', (scenario) => {
  test(`${N} messages written to a FileSink cause no GC`, () => {
    const r = run(scenario);
    expect(r.frames).toBe(N + 200_000);
    expect(r.gcs).toBe(0);
    expect(r.heapBytesPerMessage).toBeLessThan(1);
  });
});

// Building through the builder API: the writer and ArenaBuilder allocate
// nothing, but V8 boxes a double passed across a call it chose not to
// inline (measured 0–7 minor GCs per million, varying with what the JIT inlined;
// the stock builder causes ~190, one boxed value per message ~7).
describe.each(['serialize', 'writeFinished'])('%s', (scenario) => {
  test(`${N} messages cause at most 10 minor GCs (stock builder: ~190)`, () => {
    const r = run(scenario);
    expect(r.frames).toBe(N + 200_000);
    expect(r.gcs).toBeLessThanOrEqual(10);
  });
});

// Capture: the writer stages into the shared staging mapping; nothing per
// message crosses into C++ or allocates (the thread seals and writes).
(native ? describe.each(['capture-writePayload', 'capture-string']) : describe.skip.each([['-']]))(
  '%s',
  (scenario) => {
    test(`${N} messages captured to a file cause no GC`, () => {
      const r = run(scenario);
      expect(r.frames).toBe(N + 200_000);
      expect(r.gcs).toBe(0);
      expect(r.heapBytesPerMessage).toBeLessThan(1);
    });
  },
);

// The default policy ('drop', growing first): a tight loop outruns a slow
// disk (50 ms per slab write, the sink's test hook), so the staging grows to maxBytes and then drops the newest
// frames. Neither growing nor dropping allocates.
(native
  ? describe.each(['capture-default-writePayload', 'capture-default-string'])
  : describe.skip.each([['-']]))('%s', (scenario) => {
  test(`${N} messages under the default policy (grow, then drop) cause no GC`, () => {
    const r = run(scenario);
    expect(r.frames + r.drops).toBe(N + 200_000);
    expect(r.frames).toBeGreaterThan(0);
    expect(r.drops).toBeGreaterThan(0); // the slow disk made it drop
    expect(r.gcs).toBe(0);
    expect(r.heapBytesPerMessage).toBeLessThan(1);
  });
});

// A CaptureSink in portable mode (the fallback run's; forced in the native
// run): its slab writes on the event loop allocate nothing per message either.
describe.each(['portable-writePayload', 'portable-writeWith'])('%s', (scenario) => {
  test(`${N} messages through a portable CaptureSink cause no GC`, () => {
    const r = run(scenario);
    expect(r.frames).toBe(N + 200_000);
    expect(r.gcs).toBe(0);
    expect(r.heapBytesPerMessage).toBeLessThan(1);
  });
});

// writeWith: an encoder writes each payload in place (reserve/commit), to
// owned slabs, a FileSink and a CaptureSink's lent slabs: nothing allocates.
describe.each(['writeWith', 'file-writeWith', ...(native ? ['capture-writeWith'] : [])])(
  '%s',
  (scenario) => {
    test(`${N} messages written in place by an encoder cause no GC`, () => {
      const r = run(scenario);
      expect(r.frames).toBe(N + 200_000);
      expect(r.gcs).toBe(0);
      expect(r.heapBytesPerMessage).toBeLessThan(1);
    });
  },
);

// The schema-compiled Telemetry codec through writeWith (the README's fastest
// path), number-valued u64s: into a no-op sink and into a CaptureSink.
describe.each(['codec-writeWith', ...(native ? ['capture-codec-writeWith'] : [])])(
  '%s',
  (scenario) => {
    test(`${N} telemetry events encoded in place by the codec cause no GC`, () => {
      const r = run(scenario);
      expect(r.frames).toBe(N + 200_000);
      expect(r.gcs).toBe(0);
      expect(r.heapBytesPerMessage).toBeLessThan(1);
    });
  },
);
