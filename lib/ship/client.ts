/**
 * The NATS client, loaded on first use (docs/design.md, "Shipping to
 * JetStream"): `@nats-io/transport-node` and `@nats-io/jetstream` are
 * optional peer dependencies, so a user who never ships does not install
 * them and never loads them. Everything in lib/ship/ that talks to a server
 * gets the client from {@link loadNats}, the one place that imports it.
 *
 * Owns: loadNats, checkServers, isAuthError. Imports: lib/format/errors.
 */
import type { headers as natsHeaders, NatsConnection } from '@nats-io/nats-core';
import type { connect as natsConnect } from '@nats-io/transport-node';
import type {
  jetstream as natsJetstream,
  jetstreamManager as natsJetstreamManager,
} from '@nats-io/jetstream';
import { typeError } from '../format/args';
import { NatsClientMissingError } from '../format/errors';

/** The parts of the NATS client flatstream uses. */
export interface NatsClient {
  connect: typeof natsConnect;
  jetstream: typeof natsJetstream;
  jetstreamManager: typeof natsJetstreamManager;
  headers: typeof natsHeaders;
}

/** A connection, as `connect` resolves it (nats-core's type: transport-node's typings reach it through a subpath this build does not resolve). */
export type { NatsConnection };

const PACKAGES = ['@nats-io/transport-node', '@nats-io/jetstream'] as const;

let loaded: Promise<NatsClient> | null = null;

function missing(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException | undefined;
  if (e?.code !== 'MODULE_NOT_FOUND' && e?.code !== 'ERR_MODULE_NOT_FOUND') return false;
  // Only the packages themselves: a broken install of one of them (a
  // dependency of theirs missing) is reported as it is.
  return PACKAGES.some((p) => String(e.message).includes(`'${p}'`));
}

/**
 * Loads the NATS client (once; later calls share the first load). Rejects
 * with {@link NatsClientMissingError} (`ERR_FLATSTREAM_NATS_CLIENT_MISSING`)
 * naming the packages to install when they are not there.
 */
export function loadNats(): Promise<NatsClient> {
  loaded ??= (async () => {
    try {
      const transport = await import('@nats-io/transport-node');
      const js = await import('@nats-io/jetstream');
      return {
        connect: transport.connect,
        // Re-exported from @nats-io/nats-core, whose typings this build cannot resolve.
        headers: (transport as unknown as { headers: typeof natsHeaders }).headers,
        jetstream: js.jetstream,
        jetstreamManager: js.jetstreamManager,
      };
    } catch (err) {
      loaded = null; // installed later in the same process: try again then
      if (missing(err)) throw new NatsClientMissingError(PACKAGES, err);
      throw err;
    }
  })();
  return loaded;
}

/**
 * Whether `err` is the server refusing the credentials or a permission: a
 * retry cannot fix it (the shipper's `ShipError` `'auth'`, the sink's
 * failure). By the client's error names, else by the server's texts
 * (`Authorization Violation`, `Authentication Expired`, `Permissions
 * Violation for Publish to ...`), which some paths carry in a plain Error.
 */
export function isAuthError(err: unknown): boolean {
  const e = err as Error | undefined;
  const name = e?.name ?? '';
  return (
    name === 'AuthorizationError' ||
    name === 'PermissionViolationError' ||
    /authorization|authentication|permissions? violation/i.test(String(e?.message))
  );
}

/**
 * The `servers` option of every JetStream class: a URL string or a
 * non-empty array of them, as an array (a TypeError `ERR_INVALID_ARG_TYPE`
 * otherwise).
 */
export function checkServers(servers: unknown): string[] {
  const list = typeof servers === 'string' ? [servers] : servers;
  if (
    !Array.isArray(list) ||
    list.length === 0 ||
    list.some((s) => typeof s !== 'string' || s === '')
  )
    throw typeError('The "servers" option must be a URL string or a non-empty array of them');
  return list as string[];
}
