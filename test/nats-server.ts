// A real nats-server (Debian's package, installed by scripts/setup.sh) for the
// JetStream tests: started on 127.0.0.1 at a port the kernel picks, with
// JetStream storing into a private temporary directory, stopped and restarted
// on the same port and store (a "server away" fault), and killed when the test
// process ends whatever happens.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface NatsServerOptions {
  /** Require this user and password from every client. */
  auth?: { user: string; pass: string };
  /** JetStream on (the default) or off (a server without JetStream). */
  jetstream?: boolean;
}

export interface NatsServer {
  /** `nats://127.0.0.1:PORT`. */
  readonly url: string;
  readonly port: number;
  /** The server process's pid (0 while stopped): a test pauses it with SIGSTOP. */
  readonly pid: number;
  /** JetStream's store directory (kept across `restart()`). */
  readonly storeDir: string;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s); resolves when it has exited. */
  stop(): Promise<void>;
  /** Starts it again on the same port and store. */
  restart(): Promise<void>;
  /** Stops it and deletes its store. */
  dispose(): Promise<void>;
}

/** Whether Debian's nats-server is on PATH (tests skip with a reason when not). */
export function haveNatsServer(): boolean {
  return spawnSync('nats-server', ['--version']).status === 0;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

function launch(
  port: number,
  storeDir: string,
  opts: NatsServerOptions,
): Promise<{ child: ChildProcess; port: number }> {
  const args = ['-a', '127.0.0.1', '-p', String(port), '--http_port', '0'];
  if (opts.jetstream !== false) args.push('-js', '-sd', storeDir);
  if (opts.auth) args.push('--user', opts.auth.user, '--pass', opts.auth.pass);
  const child = spawn('nats-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`nats-server did not start within 10 s:\n${log}`));
    }, 10_000);
    const onData = (d: Buffer): void => {
      log += d.toString();
      const m = /Listening for client connections on [^\s]*:(\d+)/.exec(log);
      if (m && /Server is ready/.test(log)) {
        clearTimeout(timer);
        child.stderr!.off('data', onData);
        child.stderr!.resume(); // keep draining so the server never blocks on its log
        resolve({ child, port: Number(m[1]) });
      }
    };
    child.stderr!.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited (${code ?? signal}) before it was ready:\n${log}`));
    });
  });
}

function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Starts a nats-server; resolves once it accepts clients. */
export async function startNats(opts: NatsServerOptions = {}): Promise<NatsServer> {
  const storeDir = mkdtempSync(join(tmpdir(), 'flatstream-nats-'));
  let { child, port } = await launch(-1, storeDir, opts);
  let current: ChildProcess | undefined = child;
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    get pid() {
      return current?.pid ?? 0;
    },
    storeDir,
    async stop() {
      await stopChild(current);
      current = undefined;
    },
    async restart() {
      await stopChild(current);
      // The port was the server's own a moment ago; retry briefly while the
      // kernel releases it.
      for (let i = 0; ; i++) {
        try {
          ({ child } = await launch(port, storeDir, opts));
          current = child;
          return;
        } catch (e) {
          if (i >= 20) throw e;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    },
    async dispose() {
      await stopChild(current);
      current = undefined;
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
}
