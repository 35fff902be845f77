import { Builder, ByteBuffer } from 'flatbuffers';
import { ArenaBuilder } from '../lib/write/arena-builder';
import {
  Detail,
  RICH_INPUTS,
  RichEvent,
  Telemetry,
  buildRich,
  buildTelemetry,
  Alarm,
  Note,
} from './events';

const bytesOf = (b: Builder): string => Buffer.from(b.asUint8Array()).toString('hex');

describe('ArenaBuilder with flatc-generated code', () => {
  test('telemetry events are byte-identical to the stock builder, message after message', () => {
    const stock = new Builder(1024);
    const arena = new ArenaBuilder();
    for (let i = 0; i < 100; i++) {
      stock.clear();
      arena.clear();
      buildTelemetry(stock, i);
      buildTelemetry(arena, i);
      expect(bytesOf(arena)).toBe(bytesOf(stock));
    }
  });

  test('rich events (strings incl. non-ASCII and lone surrogates, vectors, structs, tables, unions) are byte-identical', () => {
    for (const initialSize of [8, 64, 1024]) {
      const arena = new ArenaBuilder(undefined, { initialSize });
      RICH_INPUTS.forEach((input, i) => {
        const stock = new Builder(16);
        buildRich(stock, i, input);
        arena.clear();
        buildRich(arena, i, input);
        expect(bytesOf(arena)).toBe(bytesOf(stock));
      });
    }
  });

  test('generated accessors read back what was built', () => {
    const b = new ArenaBuilder(undefined, { initialSize: 8 });
    buildRich(b, 4, RICH_INPUTS[0]!);
    const e = RichEvent.getRootAsRichEvent(new ByteBuffer(b.asUint8Array()));
    expect(e.deviceId()).toBe(4n);
    expect(e.timestamp()).toBe(2n ** 63n + 4n);
    expect(e.label()).toBe('sensor-0001-abcd');
    expect(Array.from(e.readingsArray()!)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(e.position()!.z()).toBe(4);
    expect(e.detailType()).toBe(Detail.Alarm);
    expect((e.detail(new Alarm()) as Alarm).text()).toBe('overheat');
    b.clear();
    buildRich(b, 1, RICH_INPUTS[1]!);
    const n = RichEvent.getRootAsRichEvent(new ByteBuffer(b.asUint8Array()));
    expect((n.detail(new Note()) as Note).text()).toBe('naïve café ☕ 𝄞 \ufffd end');
    expect(n.tags(0)!.value()).toBe(-5n);
    expect(n.active()).toBe(false);
    b.clear();
    buildTelemetry(b, 3);
    const t = Telemetry.getRootAsTelemetry(new ByteBuffer(b.asUint8Array()));
    expect([t.deviceId(), t.value()]).toEqual([1003n, 0.75]);
  });

  test('growth asks the block source and keeps the bytes built so far', () => {
    const sizes: number[] = [];
    const b = new ArenaBuilder(
      { block: (n) => (sizes.push(n), new Uint8Array(n)) },
      { initialSize: 16 },
    );
    buildRich(b, 2, RICH_INPUTS[2]!);
    expect(sizes[0]).toBe(16);
    expect(sizes.length).toBeGreaterThanOrEqual(3);
    for (let k = 1; k < sizes.length; k++)
      expect(sizes[k]).toBeGreaterThanOrEqual(2 * sizes[k - 1]!);
    expect(RichEvent.getRootAsRichEvent(new ByteBuffer(b.asUint8Array())).label()).toBe(
      'x'.repeat(3000),
    );
    // Steady state: the grown buffer is kept, so rebuilding asks for nothing.
    const asked = sizes.length;
    for (let i = 0; i < 10; i++) {
      b.clear();
      buildRich(b, i, RICH_INPUTS[2]!);
    }
    expect(sizes.length).toBe(asked);
    b.shrink();
    expect(b.capacity).toBe(16);
    expect(sizes.length).toBe(asked + 1);
  });

  test('finished tracks finish() since the last clear()', () => {
    const b = new ArenaBuilder();
    expect(b.finished).toBe(false);
    buildTelemetry(b, 1);
    expect(b.finished).toBe(true);
    b.clear();
    expect(b.finished).toBe(false);
  });

  test('bad arguments', () => {
    expect(() => new ArenaBuilder({} as never)).toThrow(TypeError);
    expect(() => new ArenaBuilder(undefined, { initialSize: 0 })).toThrow(RangeError);
  });
});
