// Builders for the test schema (test/schema/events.fbs) through the
// flatc-generated code, shared by tests.
import type { Builder } from 'flatbuffers';
import { Alarm, Detail, Level, Note, RichEvent, Tag, Vec3 } from './generated/events_generated';
import { Telemetry } from './generated/events/telemetry';

export { Telemetry, RichEvent, Detail, Alarm, Note, Level };

export function buildTelemetry(b: Builder, i: number): void {
  b.finish(
    Telemetry.createTelemetry(
      b,
      BigInt(1000 + i),
      1_700_000_000_000_000_000n + BigInt(i),
      i * 0.25,
    ),
  );
}

export interface RichInput {
  label: string;
  readings: number[];
  tags: [string, bigint][];
  alarm?: [number, string];
  note?: string;
  flags: number[];
}

export function buildRich(b: Builder, i: number, input: RichInput): void {
  const label = b.createString(input.label);
  const readings = RichEvent.createReadingsVector(b, input.readings);
  const tagOffsets = input.tags.map(([k, v]) => {
    const key = b.createString(k);
    Tag.startTag(b);
    Tag.addKey(b, key);
    Tag.addValue(b, v);
    return Tag.endTag(b);
  });
  const tags = RichEvent.createTagsVector(b, tagOffsets);
  const flags = RichEvent.createFlagsVector(b, input.flags);
  let detailType = Detail.NONE;
  let detail = 0;
  if (input.alarm) {
    const text = b.createString(input.alarm[1]);
    detail = Alarm.createAlarm(b, input.alarm[0], text);
    detailType = Detail.Alarm;
  } else if (input.note !== undefined) {
    const text = b.createString(input.note);
    detail = Note.createNote(b, text);
    detailType = Detail.Note;
  }
  RichEvent.startRichEvent(b);
  RichEvent.addDeviceId(b, BigInt(i));
  RichEvent.addTimestamp(b, 2n ** 63n + BigInt(i));
  RichEvent.addLabel(b, label);
  RichEvent.addReadings(b, readings);
  RichEvent.addLevel(b, Level.Warn);
  RichEvent.addPosition(b, Vec3.createVec3(b, 1.5, -2.5, i));
  RichEvent.addTags(b, tags);
  RichEvent.addDetailType(b, detailType);
  if (detail) RichEvent.addDetail(b, detail);
  RichEvent.addFlags(b, flags);
  RichEvent.addActive(b, i % 2 === 0);
  b.finish(RichEvent.endRichEvent(b));
}

export const RICH_INPUTS: RichInput[] = [
  {
    label: 'sensor-0001-abcd',
    readings: [1, 2, 3, 4, 5, 6, 7, 8],
    tags: [],
    flags: [],
    alarm: [7, 'overheat'],
  },
  {
    label: '',
    readings: [],
    tags: [['k', -5n]],
    flags: [1, 2, 3],
    note: 'naïve café ☕ 𝄞 \ud800 end',
  },
  {
    label: 'x'.repeat(3000),
    readings: Array.from({ length: 500 }, (_, k) => k / 3),
    tags: [
      ['a', 1n],
      ['b', 2n ** 62n],
    ],
    flags: [255],
  },
];
