// The test harness for a real nats-server (test/nats-server.ts): it starts,
// JetStream stores and survives a restart on the same port, and auth is
// enforced. The JetStream suites build on exactly these behaviours.
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { haveNatsServer, startNats } from './nats-server';

// CI installs nats-server (scripts/setup.sh): there a missing server fails.
const maybe = haveNatsServer() || process.env.CI ? test : test.skip;

maybe(
  'a JetStream stream survives a restart on the same port',
  async () => {
    const srv = await startNats();
    try {
      let nc = await connect({ servers: srv.url });
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: 'T', subjects: ['t.>'] });
      const ack = await jetstream(nc).publish('t.a', new Uint8Array([1, 2, 3]), { msgID: 'x' });
      expect(ack.seq).toBe(1);
      await nc.close();
      await srv.restart();
      nc = await connect({ servers: srv.url });
      const info = await (await jetstreamManager(nc)).streams.info('T');
      expect(info.state.messages).toBe(1);
      await nc.close();
    } finally {
      await srv.dispose();
    }
  },
  30_000,
);

maybe(
  'auth: a client without the password is refused',
  async () => {
    const srv = await startNats({ auth: { user: 'u', pass: 'p' } });
    try {
      await expect(connect({ servers: srv.url, reconnect: false })).rejects.toMatchObject({
        message: expect.stringMatching(/Authorization/i),
      });
      const nc = await connect({ servers: srv.url, user: 'u', pass: 'p' });
      await nc.close();
    } finally {
      await srv.dispose();
    }
  },
  30_000,
);
