// The byte generator of scripts/make-vectors.py, shared by the tests that
// replay its vectors: state = state * multiplier + increment (mod 2^32),
// byte = state >>> 24.
import vectors from './vectors/checksums.json';

export { vectors };

export function lcg(seed: number, n: number): Uint8Array {
  const { multiplier, increment } = vectors.generator;
  const out = new Uint8Array(n);
  let state = seed >>> 0;
  for (let i = 0; i < n; i++) {
    state = (Math.imul(state, multiplier) + increment) >>> 0;
    out[i] = state >>> 24;
  }
  return out;
}
