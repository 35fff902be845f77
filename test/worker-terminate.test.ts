/**
 * A worker terminated while it is inside a native call that throws must not
 * take the process down. node-addon-api rethrows, as a C++ exception out of
 * its own call wrapper, an error it cannot throw into JS because the
 * worker's environment is being torn down; that reached std::terminate and
 * aborted the host (SIGABRT, "terminate called after throwing an instance of
 * 'Napi::Error'"), first seen in capture-shutdown's worker test. The addon is
 * built with NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS (binding.gyp), which
 * drops such an error: nothing runs JS in that environment any more.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { native } from '../lib/index';

const child = path.join(__dirname, 'worker-terminate-child.js');

(native ? test : test.skip)(
  'terminating workers inside throwing native calls leaves the process alive (40 rounds, random instants)',
  () => {
    const r = spawnSync(process.execPath, [child, '40'], { encoding: 'utf8', timeout: 120_000 });
    expect({
      status: r.status,
      signal: r.signal,
      stdout: r.stdout.trim(),
      stderr: r.stderr,
    }).toEqual({
      status: 0,
      signal: null,
      stdout: 'ok 40',
      stderr: '',
    });
  },
);
