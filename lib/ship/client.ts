// The NATS client, loaded on first use (docs/design.md, "Shipping to
// JetStream"): `@nats-io/transport-node` and `@nats-io/jetstream` are
// optional peer dependencies, so a user who never ships installs neither.
// The one place that loads them.
import type { headers } from '@nats-io/nats-core';
import type { connect } from '@nats-io/transport-node';
import type { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { NatsClientMissingError } from '../format/errors';

/** The functions of the NATS client packages that flatstream uses. */
export interface NatsClient {
  connect: typeof connect;
  jetstream: typeof jetstream;
  jetstreamManager: typeof jetstreamManager;
  headers: typeof headers;
}

const PACKAGES = ['@nats-io/transport-node', '@nats-io/jetstream'] as const;

let loaded: Promise<NatsClient> | null = null;

/**
 * Loads the NATS client packages once. Rejects with
 * {@link NatsClientMissingError} (code `NATS_CLIENT_MISSING`) naming them
 * when either is not installed.
 */
export function loadNats(): Promise<NatsClient> {
  loaded ??= (async () => {
    try {
      const transport = await import('@nats-io/transport-node');
      const js = await import('@nats-io/jetstream');
      return {
        connect: transport.connect,
        jetstream: js.jetstream,
        jetstreamManager: js.jetstreamManager,
        // transport-node re-exports nats-core's API at run time; its typings
        // reach it through a subpath export this build's resolution skips.
        headers: (transport as unknown as { headers: typeof headers }).headers,
      };
    } catch (err) {
      loaded = null; // installed later: the next call tries again
      const code = (err as NodeJS.ErrnoException)?.code;
      if (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND')
        throw new NatsClientMissingError(PACKAGES, err);
      throw err;
    }
  })();
  return loaded;
}
