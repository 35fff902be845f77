// Golden frames computed independently of the code under test
// (scripts/make-vectors.py: Python's zlib/binascii, bitwise CRCs, xxhsum):
// written and read byte-identically, in both engine modes.
import golden from './golden/frames.json';
import {
  ChecksumDeframer,
  ChecksumFramer,
  MemorySink,
  StreamReader,
  StreamWriter,
  checksums,
} from '../lib/index';

type Name = keyof typeof checksums;
const hex = (s: string): Buffer => Buffer.from(s, 'hex');

describe.each(
  golden.frames.map((f) => [`${f.checksum} ${f.payloadHex.length / 2}-byte payload`, f] as const),
)('golden frame: %s', (_label, f) => {
  const checksum = checksums[f.checksum as Name];

  test('Framer.frame produces the golden bytes', () => {
    expect(new ChecksumFramer(checksum).frame(hex(f.payloadHex)).toString('hex')).toBe(f.frameHex);
  });

  test('StreamWriter stages the golden bytes', () => {
    const sink = new MemorySink();
    const w = new StreamWriter(sink, new ChecksumFramer(checksum));
    w.writePayload(hex(f.payloadHex));
    w.close();
    expect(sink.toBuffer().toString('hex')).toBe(f.frameHex);
  });

  test('StreamReader reads the golden frame back', () => {
    const got: string[] = [];
    new StreamReader(hex(f.frameHex), new ChecksumDeframer(checksum)).processAll(
      (p) => void got.push(Buffer.from(p).toString('hex')),
    );
    expect(got).toEqual([f.payloadHex]);
  });
});

describe.each(golden.streams.map((s) => [s.checksum, s] as const))(
  'golden stream: %s',
  (name, s) => {
    const checksum = checksums[name as Name];
    const stream = hex(s.streamHex);

    test('reads every frame at its golden offset', () => {
      const got: { offset: number; payloadOffset: number; payloadLength: number }[] = [];
      new StreamReader(stream, new ChecksumDeframer(checksum)).processAll((p, info) => {
        got.push({
          offset: info.offset,
          payloadOffset: p.byteOffset - stream.byteOffset,
          payloadLength: p.length,
        });
      });
      expect(got).toEqual(
        s.frames.map(({ offset, payloadOffset, payloadLength }) => ({
          offset,
          payloadOffset,
          payloadLength,
        })),
      );
    });

    test('rewriting the payloads reproduces the stream byte for byte', () => {
      const sink = new MemorySink();
      const w = new StreamWriter(sink, new ChecksumFramer(checksum), { slabSize: 256 });
      for (const fr of s.frames)
        w.writePayload(stream.subarray(fr.payloadOffset, fr.payloadOffset + fr.payloadLength));
      w.close();
      expect(sink.toBuffer().toString('hex')).toBe(s.streamHex);
    });
  },
);
