import {
  Crc16,
  Crc32,
  Crc32c,
  Crc64,
  NoChecksum,
  XxHash64,
  native,
  nativeError,
} from '../lib/index';

// The suite runs twice (scripts/test-all.mjs): with the addon and with
// FLATSTREAM_NATIVE=0. Make sure each run really exercises the mode it claims.
describe('engine selection', () => {
  if (process.env.FLATSTREAM_NATIVE === '0') {
    test('FLATSTREAM_NATIVE=0 forces the TypeScript fallback', () => {
      expect(native).toBe(false);
      expect(nativeError?.message).toBe('disabled by FLATSTREAM_NATIVE=0');
      for (const c of [NoChecksum, Crc16, Crc32, XxHash64, Crc32c, Crc64])
        expect(c.impl).toBe('js');
    });
  } else {
    test('the native addon loads', () => {
      expect(nativeError).toBeNull();
      expect(native).toBe(true);
    });
    test('each checksum reports the path chosen for this CPU', () => {
      for (const c of [Crc16, Crc32, XxHash64, Crc32c, Crc64]) {
        expect(typeof c.impl).toBe('string');
        expect(c.impl).not.toBe('js');
      }
    });
  }
});
