import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Integration } from '../shared/integration/index.ts';
import {
  dayElements,
  decodeMinutes,
  encodeMinutes,
  type HourBits,
  type HourKey,
  type PullDay,
  pullHistory,
  timeline48h,
} from '../shared/pulls/activity.ts';
import {
  addRecord,
  applyPulls,
  closedHours,
  emptySummary,
  type PullRecord,
  type PullSummary,
} from '../shared/pulls/index.ts';
import { addSeconds, type Iso } from '../shared/time.ts';
import { pullRecord } from './kit/lines.ts';
import { at, T0 } from './kit/time.ts';
import { integrationInMemory } from './kit/world.ts';

// Pure: the history model folded through the same functions the ingest uses, with the day items as a map.

const ID = 'int_0000000000000001';

const fresh = (): Integration => integrationInMemory({ id: ID });

/** The integration item and the day items, changed as the ingest changes them. */
class Model {
  integration = fresh();
  readonly days = new Map<string, { accepted: Set<string>; refused: Set<string> }>();
  dayWrites = 0;

  /** Day items first (what the integration is about to let go of), then the integration. */
  apply(summary: PullSummary, crashBeforeIntegrationWrite = false): void {
    this.addDays(closedHours(this.integration, summary));
    if (crashBeforeIntegrationWrite) return;
    this.integration = applyPulls(this.integration, summary) ?? this.integration;
  }

  private addDays(closed: Map<HourKey, HourBits>): void {
    for (const [day, elements] of dayElements(closed)) {
      this.dayWrites += 1;
      let item = this.days.get(day);
      if (!item) {
        item = { accepted: new Set(), refused: new Set() };
        this.days.set(day, item);
      }
      for (const element of elements.accepted) item.accepted.add(element);
      for (const element of elements.refused) item.refused.add(element);
    }
  }

  dayItems(): PullDay[] {
    return [...this.days].map(([day, item]) => ({ day, ...item }));
  }

  history(now: Iso) {
    return pullHistory(this.integration.recent_pulls, this.dayItems(), now);
  }
}

const summaryOf = (records: PullRecord[]) => {
  const summary = emptySummary(ID);
  for (const record of records) addRecord(summary, record);
  return summary;
};

/** What the views must say, computed the obvious way: per hour, the distinct minutes of each class. */
function expected(records: PullRecord[], now: Iso) {
  const minutes = { accepted: new Map<string, Set<number>>(), refused: new Map<string, Set<number>>() };
  for (const record of records) {
    const shown =
      record.status === 401 || record.status === 403
        ? 'refused'
        : record.method === 'GET' && ((record.status >= 200 && record.status < 300) || record.status === 304)
          ? 'accepted'
          : null;
    if (shown === null) continue;
    const hour = record.time.slice(0, 13);
    const set = minutes[shown].get(hour) ?? new Set<number>();
    set.add(new Date(record.time).getUTCMinutes());
    minutes[shown].set(hour, set);
  }
  const nowHour = Date.parse(`${now.slice(0, 13)}:00:00Z`);
  const hourAt = (index: number, count: number) =>
    new Date(nowHour - (count - 1 - index) * 3_600_000).toISOString().slice(0, 13);
  const count = (shown: 'accepted' | 'refused', hour: string) => minutes[shown].get(hour)?.size ?? 0;
  const week = Array.from({ length: 168 }, (_, index) => hourAt(index, 168));
  const twoDays = Array.from({ length: 48 }, (_, index) => hourAt(index, 48));
  return {
    history: {
      start: `${week[0]}:00:00Z`,
      unit: 'minutes',
      accepted: week.map((hour) => count('accepted', hour)),
      refused: week.map((hour) => count('refused', hour)),
    },
    timeline: {
      start: `${twoDays[0]}:00:00Z`,
      hours: twoDays
        .map((hour) => '.arb'[(count('accepted', hour) > 0 ? 1 : 0) + (count('refused', hour) > 0 ? 2 : 0)])
        .join(''),
    },
  };
}

describe('minute bitmaps', () => {
  it('encode 60 bits in 10 characters and back', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 30 - 1 }),
        fc.integer({ min: 0, max: 2 ** 30 - 1 }),
        (lo, hi) => {
          const text = encodeMinutes(lo, hi);
          expect(text).toMatch(/^[A-Za-z0-9_-]{10}$/);
          expect(decodeMinutes(text)).toEqual([lo, hi]);
        },
      ),
    );
  });

  it('count minutes with pulls, not requests: ten pulls in one minute are one', () => {
    const model = new Model();
    const times = Array.from({ length: 10 }, (_, index) => addSeconds(at(10), index));
    model.apply(summaryOf([...times.map((time) => pullRecord(ID, time)), pullRecord(ID, at(10.5))]));
    const history = model.history(at(10.9));
    expect(history.accepted.at(-1)).toBe(2);
    expect(history.refused.at(-1)).toBe(0);
  });

  it('keep HEAD, 429 and 5xx out: only accepted GETs and 401/403 count', () => {
    const model = new Model();
    model.apply(
      summaryOf([
        pullRecord(ID, at(10), { method: 'HEAD' }),
        pullRecord(ID, at(10.1), { status: 429 }),
        pullRecord(ID, at(10.2), { status: 503 }),
        pullRecord(ID, at(10.3), { status: 304 }),
        pullRecord(ID, at(10.4), { status: 401 }),
        pullRecord(ID, at(10.5), { status: 403 }),
      ]),
    );
    expect(model.history(at(10.9))).toMatchObject({
      accepted: expect.any(Array),
      refused: expect.any(Array),
    });
    expect(model.history(at(10.9)).accepted.at(-1)).toBe(1);
    expect(model.history(at(10.9)).refused.at(-1)).toBe(2);
    expect(timeline48h(model.integration.recent_pulls, at(10.9)).hours.at(-1)).toBe('b');
  });
});

describe('the integration item', () => {
  it('stays small: the 48-hour states and two open hours take about 100 bytes', () => {
    const model = new Model();
    // Every minute of two days, accepted and refused: the largest it gets.
    const records: PullRecord[] = [];
    for (let minute = 0; minute < 48 * 60; minute += 1) {
      records.push(pullRecord(ID, addSeconds(at(0), minute * 60)));
      records.push(pullRecord(ID, addSeconds(at(0), minute * 60 + 1), { status: 401 }));
    }
    model.apply(summaryOf(records));
    // DynamoDB's item size: attribute names and string values in UTF-8, plus 3 bytes a map and 1 an element.
    const recent = model.integration.recent_pulls ?? {};
    const size =
      'recent_pulls'.length +
      3 +
      Object.entries(recent).reduce((sum, [name, value]) => sum + 1 + name.length + String(value).length, 0);
    expect(size).toBeLessThanOrEqual(140);
    expect(model.integration.recent_pulls?.states).toBe('b'.repeat(48));
  });

  it('keeps the hour before the newest open: a straggler for it costs no day write', () => {
    const model = new Model();
    model.apply(summaryOf([pullRecord(ID, addSeconds(at(10), 58 * 60))]));
    model.apply(summaryOf([pullRecord(ID, addSeconds(at(11), 2 * 60))]));
    model.apply(summaryOf([pullRecord(ID, addSeconds(at(10), 59 * 60))]));
    expect(model.dayWrites).toBe(0);
    // 12:00 closes 10:00 (now two hours old): one day write, with both minutes.
    model.apply(summaryOf([pullRecord(ID, at(12))]));
    expect(model.dayWrites).toBe(1);
    const history = model.history(at(12.5));
    expect(history.accepted.slice(-3)).toEqual([2, 1, 1]);
  });

  it('sends a record for an hour already in the day items there, and a re-read adds nothing', () => {
    const model = new Model();
    model.apply(summaryOf([pullRecord(ID, at(10)), pullRecord(ID, at(11)), pullRecord(ID, at(13))]));
    const late = summaryOf([pullRecord(ID, addSeconds(at(10), 30 * 60), { status: 403 })]);
    model.apply(late);
    const once = JSON.stringify(
      model.dayItems().map((day) => [day.day, [...day.accepted], [...day.refused]]),
    );
    model.apply(late);
    expect(
      JSON.stringify(model.dayItems().map((day) => [day.day, [...day.accepted], [...day.refused]])),
    ).toBe(once);
    const history = model.history(at(13.5));
    expect(history.accepted.slice(-4)).toEqual([1, 1, 0, 1]);
    expect(history.refused.slice(-4)).toEqual([1, 0, 0, 0]);
    expect(timeline48h(model.integration.recent_pulls, at(13.5)).hours.slice(-4)).toBe('ba.a');
  });

  it('is shifted to now: the hours after the newest pull are silent', () => {
    const model = new Model();
    model.apply(summaryOf([pullRecord(ID, at(10))]));
    const timeline = timeline48h(model.integration.recent_pulls, at(13.2));
    expect(timeline.start).toBe('2026-11-18T14:00:00Z');
    expect(timeline.hours.slice(-4)).toBe('a...');
    expect(timeline48h(model.integration.recent_pulls, at(100)).hours).toBe('.'.repeat(48));
    expect(timeline48h(null, at(1))).toEqual({ start: '2026-11-18T02:00:00Z', hours: '.'.repeat(48) });
    const history = model.history(at(13.2));
    expect(history.start).toBe('2026-11-13T14:00:00Z');
    expect(history.accepted).toHaveLength(168);
    expect(history.accepted.slice(-4)).toEqual([1, 0, 0, 0]);
  });
});

describe('any order, split, repetition or crash gives the same history', () => {
  const record = fc.record({
    // Ten days of minutes: hours close, days change, some records are days late.
    minute: fc.integer({ min: 0, max: 10 * 24 * 60 - 1 }),
    second: fc.integer({ min: 0, max: 59 }),
    method: fc.constantFrom('GET', 'GET', 'GET', 'HEAD'),
    status: fc.constantFrom(200, 200, 304, 401, 403, 429, 503),
  });

  it('as folding every record once, in order', () => {
    fc.assert(
      fc.property(
        fc.array(record, { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.nat(), { minLength: 60, maxLength: 60 }),
        fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
        fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }),
        fc.integer({ min: 0, max: 3 * 24 * 60 }),
        (generated, parts, partOf, repeated, crashed, after) => {
          const records = generated.map((item) =>
            pullRecord(ID, addSeconds(T0, item.minute * 60 + item.second), {
              method: item.method,
              status: item.status,
            }),
          );
          const newest = records
            .map((item) => item.time)
            .sort()
            .at(-1) as Iso;
          const now = addSeconds(newest, after * 60);
          const want = expected(records, now);

          const files: PullRecord[][] = Array.from({ length: parts }, () => []);
          records.forEach((item, index) => {
            files[(partOf[index] ?? 0) % parts]?.push(item);
          });
          const model = new Model();
          files.forEach((file, index) => {
            const summary = summaryOf(file);
            // A crash after the day items were written: the file is read again by the next run.
            if (crashed[index]) model.apply(summary, true);
            model.apply(summary);
            // A re-delivered file, read once more.
            if (repeated[index]) model.apply(summaryOf([...file].reverse()));
          });
          expect(model.history(now)).toEqual(want.history);
          expect(timeline48h(model.integration.recent_pulls, now)).toEqual(want.timeline);
        },
      ),
      { numRuns: 300 },
    );
  });
});
