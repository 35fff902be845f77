// The pass/fail lines of the scripts whose tests scripts/test-all.mjs counts
// (cross-arm64, cross-win64, pack-test): one "ok"/"FAIL" line per check, and
// at the end "<name>: N passed, N failed" and the exit status.
export function checks(name) {
  let passed = 0;
  let failed = 0;
  return {
    check(what, ok, detail = '') {
      console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${detail ? `: ${detail}` : ''}`);
      if (ok) passed++;
      else failed++;
    },
    /** Counts of a sub-run (ctest, jest, a smoke test) that printed its own lines. */
    add(p, f) {
      passed += p;
      failed += f;
    },
    done() {
      console.log(`${name}: ${passed} passed, ${failed} failed`);
      process.exit(failed ? 1 : 0);
    },
  };
}
