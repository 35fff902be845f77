// The public checksums (native in native mode, lib/engine/js in fallback mode)
// against the independent vectors of scripts/make-vectors.py.
import { lcg, vectors } from './vectors';
import { checksums } from '../lib/index';

type Name = keyof typeof vectors.vectors;

describe.each(Object.keys(vectors.vectors) as Name[])('%s', (name) => {
  const checksum = checksums[name];
  test('every vector, computed over a view at its odd offset', () => {
    let checked = 0;
    for (const v of vectors.vectors[name]) {
      const data = lcg(v.seed, v.offset + v.len).subarray(v.offset);
      expect([
        v.len,
        `0x${BigInt(checksum.compute(data))
          .toString(16)
          .padStart(2 * checksum.width, '0')}`,
      ]).toEqual([v.len, v.value]);
      checked++;
    }
    expect(checked).toBeGreaterThan(300);
  });
});
