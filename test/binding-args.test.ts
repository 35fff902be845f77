// Every raw entry point of the addon refuses wrong arguments the Node way,
// through native/binding/args.h: a TypeError with code ERR_INVALID_ARG_TYPE
// for a wrong type, a RangeError with code ERR_OUT_OF_RANGE for a value out
// of range, each with its exact message, and nothing crashes (docs/design.md,
// "The native core: capture and binding"). lib/ checks its own arguments
// first, so these calls reach the binding directly. Native mode only: under
// FLATSTREAM_NATIVE=0 there is no binding to call.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { backend, native, nativeExport } from '../lib/engine/load';
import { Kind } from '../lib/format/kinds';

type AnyFn = (...args: unknown[]) => unknown;
type AnyCtor = new (...args: unknown[]) => Record<string, AnyFn>;

const raw = (name: string): AnyFn => nativeExport(name) as AnyFn;
const ctor = (name: string): AnyCtor => nativeExport(name) as AnyCtor;

function typeErr(name: string, expected: string): [ErrorConstructor, string, string] {
  return [TypeError, 'ERR_INVALID_ARG_TYPE', `The "${name}" argument must be ${expected}`];
}
function rangeErr(name: string, detail = ''): [ErrorConstructor, string, string] {
  return [
    RangeError,
    'ERR_OUT_OF_RANGE',
    `The value of "${name}" is out of range${detail ? `. ${detail}` : ''}`,
  ];
}

type Case = [string, () => unknown, [ErrorConstructor, string, string]];

function check(cases: Case[]): void {
  for (const [label, call, [cls, code, message]] of cases) {
    let thrown: unknown = null;
    try {
      call();
    } catch (e) {
      thrown = e;
    }
    // By name: the addon builds its errors in the main realm, not jest's.
    const err = thrown as Error & { code?: string };
    expect({
      label,
      cls: err?.constructor?.name,
      name: err?.name,
      code: err?.code,
      message: err?.message,
    }).toEqual({ label, cls: cls.name, name: cls.name, code, message });
  }
}

const d = native ? describe : describe.skip;

d('binding arguments (native/binding/args.h)', () => {
  const num = 'of type number';
  const bytes = new Uint8Array(64);
  const index = new Uint32Array(16);

  test('checksum, checksumImpl, sealFrames', () => {
    const checksum = raw('checksum');
    const impl = raw('checksumImpl');
    const seal = raw('sealFrames');
    check([
      ['checksum kind type', () => checksum('crc32', bytes), typeErr('kind', num)],
      [
        'checksum kind unknown',
        () => checksum(99, bytes),
        rangeErr('kind', 'It must be a checksum kind'),
      ],
      [
        'checksum kind fractional',
        () => checksum(1.5, bytes),
        rangeErr('kind', 'It must be a checksum kind'),
      ],
      [
        'checksum kind NaN',
        () => checksum(NaN, bytes),
        rangeErr('kind', 'It must be a checksum kind'),
      ],
      [
        'checksum data',
        () => checksum(Kind.Crc32, [1, 2]),
        typeErr('data', 'a TypedArray or DataView'),
      ],
      ['checksumImpl kind', () => impl(undefined), typeErr('kind', num)],
      [
        'sealFrames slab',
        () => seal('x', 0, 0, Kind.Crc32),
        typeErr('slab', 'a TypedArray or DataView'),
      ],
      ['sealFrames end type', () => seal(bytes, 0, '8', Kind.Crc32), typeErr('end', num)],
      ['sealFrames end past slab', () => seal(bytes, 0, 65, Kind.Crc32), rangeErr('end')],
      ['sealFrames start past end', () => seal(bytes, 9, 8, Kind.Crc32), rangeErr('start')],
      ['sealFrames start negative', () => seal(bytes, -1, 8, Kind.Crc32), rangeErr('start')],
      ['sealFrames kind', () => seal(bytes, 0, 0, {}), typeErr('kind', num)],
    ]);
  });

  test('scanFrames and resyncFrames', () => {
    const scan = (...a: unknown[]): unknown => (backend.scanFrames as AnyFn)(...a);
    const resync = (...a: unknown[]): unknown => (backend.resyncFrames as AnyFn)(...a);
    const K = Kind.Crc32;
    const out6 = new Float64Array(6);
    const memo = new Uint8Array(64);
    check([
      [
        'scan buf',
        () => scan(null, 0, 0, K, 4, 64, index),
        typeErr('buf', 'a TypedArray or DataView'),
      ],
      ['scan end', () => scan(bytes, 0, 1e9, K, 4, 64, index), rangeErr('end')],
      ['scan start', () => scan(bytes, 0.5, 8, K, 4, 64, index), rangeErr('start')],
      ['scan width type', () => scan(bytes, 0, 8, K, '4', 64, index), typeErr('width', num)],
      ['scan width range', () => scan(bytes, 0, 8, K, 9, 64, index), rangeErr('width')],
      ['scan maxFrameLen', () => scan(bytes, 0, 8, K, 4, 2 ** 32, index), rangeErr('maxFrameLen')],
      [
        'scan index type',
        () => scan(bytes, 0, 8, K, 4, 64, new Uint8Array(64)),
        typeErr('index', 'a Uint32Array of at least 0'),
      ],
      [
        'scan index short',
        () => scan(bytes, 0, 8, K, 4, 64, new Uint32Array(7)),
        rangeErr('index', 'It must hold at least 8 elements'),
      ],
      [
        'scan validators',
        () => scan(bytes, 0, 8, K, 4, 64, index, 5),
        typeErr('validators', 'a ValidatorChain'),
      ],
      ['resync run type', () => resync(bytes, 0, 8, K, 4, 64, '1'), typeErr('run', num)],
      ['resync run zero', () => resync(bytes, 0, 8, K, 4, 64, 0), rangeErr('run')],
      [
        'resync without checksum',
        () => resync(bytes, 0, 8, Kind.None, 0, 64, 1),
        rangeErr('kind', 'Resync needs a built-in checksum'),
      ],
      [
        'resync out type',
        () => resync(bytes, 0, 8, K, 4, 64, 1, undefined, new Uint32Array(2)),
        typeErr('out', 'a Float64Array of at least 2'),
      ],
      [
        'resync step out missing',
        () => resync(bytes, 0, 8, K, 4, 64, 1, undefined, undefined, memo),
        typeErr('out', 'a Float64Array of at least 6'),
      ],
      [
        'resync step memo type',
        () => resync(bytes, 0, 8, K, 4, 64, 1, undefined, out6, new Int8Array(64)),
        typeErr('memo', 'a Uint8Array of at least 0'),
      ],
      [
        'resync step memo short',
        () => resync(bytes, 0, 8, K, 4, 64, 1, undefined, out6, new Uint8Array(7)),
        rangeErr('memo', 'It is shorter than end'),
      ],
      [
        'resync step natural',
        () => resync(bytes, 0, 8, K, 4, 64, 1, undefined, out6, memo, 9),
        rangeErr('natural'),
      ],
      [
        'resync step eof',
        () => resync(bytes, 0, 8, K, 4, 64, 1, undefined, out6, memo, -1, 1),
        typeErr('eof', 'of type boolean'),
      ],
    ]);
  });

  test('views over a SharedArrayBuffer or a detached buffer are read, never refused or crashed on', () => {
    const checksum = raw('checksum');
    const data = Uint8Array.from({ length: 37 }, (_, i) => i * 7);
    const shared = new Uint8Array(new SharedArrayBuffer(64), 3, 37);
    shared.set(data);
    expect(checksum(Kind.Crc32, shared)).toBe(checksum(Kind.Crc32, data));
    expect(checksum(Kind.Crc32, new DataView(shared.buffer, 3, 37))).toBe(
      checksum(Kind.Crc32, data),
    );
    // out-params and the index over shared memory are written.
    const frame = new Uint8Array(8 + 5);
    frame.set([5, 0, 0, 0], 0);
    frame.set([1, 2, 3, 4, 5], 8);
    expect(raw('sealFrames')(frame, 0, frame.length, Kind.Crc32)).toBe(1);
    const index = new Uint32Array(new SharedArrayBuffer(4 * 16));
    expect(backend.scanFrames(frame, 0, frame.length, Kind.Crc32, 4, 64, index)).toBe(1);
    expect(Array.from(index.subarray(0, 8))).toEqual([0, 1, frame.length, 0, 0, 0, 8, 5]);
    const out = new Float64Array(new SharedArrayBuffer(8 * 2));
    out.fill(-7);
    const junkThenFrame = new Uint8Array(1 + frame.length);
    junkThenFrame.set(frame, 1);
    expect(
      (backend.resyncFrames as AnyFn)(
        junkThenFrame,
        0,
        junkThenFrame.length,
        Kind.Crc32,
        4,
        64,
        1,
        undefined,
        out,
      ),
    ).toBe(1);
    expect(Array.from(out)).toEqual([1, 1]);
    // A detached buffer's view is empty: the checksum of nothing.
    const gone = new Uint8Array(16);
    structuredClone(gone.buffer, { transfer: [gone.buffer] });
    expect(gone.length).toBe(0);
    expect(checksum(Kind.Crc32, gone)).toBe(checksum(Kind.Crc32, new Uint8Array(0)));
  });

  test('Arena', () => {
    const Arena = ctor('Arena');
    check([
      ['ctor type', () => new Arena('4096'), typeErr('chunkSize', num)],
      ['ctor range', () => new Arena(-1), rangeErr('chunkSize')],
    ]);
    const a = new Arena(4096);
    check([
      ['block size type', () => a.block!.call(a, 'x', 0), typeErr('size', num)],
      ['block size range', () => a.block!.call(a, 2 ** 40, 0), rangeErr('size')],
      ['block committed type', () => a.block!.call(a, 8, null), typeErr('committed', num)],
      ['reset committed', () => a.reset!.call(a, 1.5), rangeErr('committed')],
      ['shrinkTo bytes', () => a.shrinkTo!.call(a, -1, 0), rangeErr('bytes')],
      ['stats committed', () => a.stats!.call(a), typeErr('committed', num)],
      [
        'committed outside the chunk',
        () => a.stats!.call(a, 8),
        rangeErr('committed', 'It must be inside the current chunk'),
      ],
    ]);
  });

  test('ValidatorChain', () => {
    const Chain = ctor('ValidatorChain');
    check([
      ['spec', () => new Chain({}), typeErr('validators', 'an array')],
      ['spec item', () => new Chain([1]), typeErr('validators[0]', 'an object')],
      [
        'spec kind',
        () => new Chain([{ kind: 'nope' }]),
        typeErr('validators[0].kind', "'size', 'tableRoot' or 'schema'"),
      ],
      ['size min', () => new Chain([{ kind: 'size', min: -1 }]), rangeErr('min')],
      ['size max', () => new Chain([{ kind: 'size', max: '1' }]), typeErr('max', num)],
      ['size min > max', () => new Chain([{ kind: 'size', min: 2, max: 1 }]), rangeErr('min')],
      ['maxDepth', () => new Chain([{ kind: 'tableRoot', maxDepth: 0 }]), rangeErr('maxDepth')],
      [
        'checkAlignment',
        () => new Chain([{ kind: 'tableRoot', checkAlignment: 1 }]),
        typeErr('checkAlignment', 'of type boolean'),
      ],
      [
        'bfbs',
        () => new Chain([{ kind: 'schema', bfbs: 'x' }]),
        typeErr('bfbs', 'a TypedArray or DataView'),
      ],
      [
        'rootType',
        () => new Chain([{ kind: 'schema', bfbs: bytes, rootType: 1 }]),
        typeErr('rootType', 'of type string'),
      ],
    ]);
    const chain = new Chain([{ kind: 'size', max: 4 }]);
    check([
      [
        'check buf',
        () => chain.check!.call(chain, [], 0, 0),
        typeErr('buf', 'a TypedArray or DataView'),
      ],
      ['check offset type', () => chain.check!.call(chain, bytes, '0', 0), typeErr('offset', num)],
      ['check offset range', () => chain.check!.call(chain, bytes, 65, 0), rangeErr('offset')],
      ['check length range', () => chain.check!.call(chain, bytes, 60, 5), rangeErr('length')],
    ]);
  });

  describe('CaptureHandle', () => {
    let dir: string;
    beforeAll(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flatstream-binding-args-'));
    });
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    const Handle = (): AnyCtor => ctor('CaptureHandle');
    const args = (over: Record<number, unknown>): unknown[] => {
      const a: unknown[] = [
        path.join(dir, 's.fst'),
        path.join(dir, 's.stage'),
        4096,
        0,
        2,
        2,
        0o644,
        0,
        1000,
        () => {},
      ];
      for (const [i, v] of Object.entries(over)) a[Number(i)] = v;
      return a;
    };

    test('constructor', () => {
      const H = Handle();
      check([
        ['streamPath', () => new H(...args({ 0: 1 })), typeErr('streamPath', 'of type string')],
        [
          'stagingPath',
          () => new H(...args({ 1: null })),
          typeErr('stagingPath', 'of type string'),
        ],
        ['slabSize type', () => new H(...args({ 2: '4096' })), typeErr('slabSize', num)],
        ['scratchSize', () => new H(...args({ 3: -1 })), rangeErr('scratchSize')],
        ['slots', () => new H(...args({ 4: 2 ** 32 })), rangeErr('slots')],
        ['maxSlots', () => new H(...args({ 5: 1.5 })), rangeErr('maxSlots')],
        ['mode', () => new H(...args({ 6: 0o10000 })), rangeErr('mode')],
        ['syncIntervalMs', () => new H(...args({ 7: NaN })), rangeErr('syncIntervalMs')],
        ['exitTimeoutMs', () => new H(...args({ 8: undefined })), typeErr('exitTimeoutMs', num)],
        ['onNotify', () => new H(...args({ 9: 'f' })), typeErr('onNotify', 'of type function')],
      ]);
      // Nothing was opened by a refused construction.
      expect(fs.readdirSync(dir)).toEqual([]);
    });

    test('openCaptureAsync', () => {
      const open = native ? (nativeExport('openCaptureAsync') as (...a: unknown[]) => void) : null;
      if (!open) return;
      const a = (over: Record<number, unknown>): unknown[] => {
        const base = args({}).slice(0, 8);
        base.push(() => {});
        for (const [i, v] of Object.entries(over)) base[Number(i)] = v;
        return base;
      };
      check([
        ['streamPath', () => open(...a({ 0: 1 })), typeErr('streamPath', 'of type string')],
        ['slabSize type', () => open(...a({ 2: '4096' })), typeErr('slabSize', num)],
        ['mode', () => open(...a({ 6: 0o10000 })), rangeErr('mode')],
        ['callback', () => open(...a({ 8: 'f' })), typeErr('callback', 'of type function')],
      ]);
      // Nothing was opened by a refused call.
      expect(fs.readdirSync(dir)).toEqual([]);
    });

    test('methods', () => {
      const H = Handle();
      const h = new H(...args({}));
      const call =
        (m: string, ...a: unknown[]) =>
        () =>
          h[m]!.call(h, ...a);
      try {
        check([
          ['bind kind type', call('bind', '1', 8), typeErr('kind', num)],
          ['bind kind range', call('bind', 256, 8), rangeErr('kind')],
          ['bind headerSize', call('bind', Kind.Crc32, -8), rangeErr('headerSize')],
        ]);
        h.bind!.call(h, Kind.Crc32, 8);
        check([
          ['slot type', call('slot', 'a'), typeErr('slot', num)],
          ['slot absent', call('slot', 2), rangeErr('slot', 'It must be a slot of the staging')],
          ['acquire grow', call('acquire', 1, 0), typeErr('grow', 'of type boolean')],
          ['acquire waitMs', call('acquire', false, -1), rangeErr('waitMs')],
          [
            'submit slot',
            call('submit', 7, 0, 0),
            rangeErr('slot', 'It must be a slot of the staging'),
          ],
          ['submit len', call('submit', 0, 4097, 0), rangeErr('len')],
          ['submit frames', call('submit', 0, 0, 'x'), typeErr('frames', num)],
          ['notifyAt type', call('notifyAt', '1'), typeErr('ticket', num)],
          ['notifyAt undefined', call('notifyAt'), typeErr('ticket', num)],
          ['notifyAt range', call('notifyAt', -1), rangeErr('ticket')],
          ['notifyAt unsafe', call('notifyAt', 2 ** 53), rangeErr('ticket')],
          ['notifyBelow', call('notifyBelow', {}), typeErr('slots', num)],
          ['flushSync', call('flushSync', -5), rangeErr('timeoutMs')],
          ['inject errno', call('inject', 5000, 0, 0), rangeErr('errno')],
          ['inject delayMs', call('inject', 0, 0, 'x'), typeErr('delayMs', num)],
          ['close timeoutMs', call('close', 'soon'), typeErr('timeoutMs', num)],
        ]);
        // The handle still works after every refusal: nothing was half-done.
        expect(h.inUse!.call(h)).toBe(0);
        expect(h.lastTicket!.call(h)).toBe(0);
      } finally {
        h.close!.call(h, 1000);
      }
      expect(h.error!.call(h)).toBeNull();
    });
  });
});
