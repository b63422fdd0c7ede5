import { describe, expect, it } from 'vitest';
import { addPull, type HourBits, type HourKey } from '../shared/pulls/activity.ts';
import {
  type Cadence,
  decodeCadence,
  encodeCadence,
  LATE_PHI,
  lateAfter,
  learnCadence,
  PHI_PER_MINUTE,
} from '../shared/pulls/cadence.ts';
import { addSeconds, type Iso, secondsBetween } from '../shared/time.ts';
import { seeded } from './kit/devices.ts';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** Pull times (ms) of a kind of device between two instants. */
type Kind = (from: number, to: number, random: () => number) => number[];

const every =
  (seconds: number, jitterSeconds = 0): Kind =>
  (from, to, random) => {
    const times: number[] = [];
    for (let at = from + 7_000; at < to; at += seconds * 1000) {
      const time = at + (random() * 2 - 1) * jitterSeconds * 1000;
      if (time >= from && time < to) times.push(time);
    }
    return times;
  };
const hourlyAt17: Kind = (from, to) => {
  const times: number[] = [];
  for (let at = from + 17 * MINUTE; at < to; at += HOUR) times.push(at);
  return times;
};
const dailyAt03: Kind = (from, to) => {
  const times: number[] = [];
  for (let at = from + 3 * HOUR; at < to; at += DAY) times.push(at);
  return times;
};
/** Every minute 08:00-17:59 UTC, Monday to Friday. */
const businessHours: Kind = (from, to) => {
  const times: number[] = [];
  for (let at = from; at < to; at += MINUTE) {
    const date = new Date(at);
    const weekday = date.getUTCDay();
    if (weekday >= 1 && weekday <= 5 && date.getUTCHours() >= 8 && date.getUTCHours() < 18) times.push(at);
  }
  return times;
};
/** Exponential gaps with a 3-hour mean. */
const sporadic: Kind = (from, to, random) => {
  const times: number[] = [];
  const gap = () => -Math.log(1 - random()) * 3 * HOUR;
  for (let at = from + gap(); at < to; at += gap()) times.push(at);
  return times;
};

/** The activity a device of `kind` left over `days` days before `day` (or on `pulledDays` of them only). */
function history(kind: Kind, day: string, days = 9, seed = 1, keep?: (dayIndex: number) => boolean) {
  const end = Date.parse(`${day}T00:00:00Z`);
  const times = kind(end - days * DAY, end, seeded(seed)).filter((time) =>
    keep ? keep(Math.floor((end - time) / DAY) + 1) : true,
  );
  const hours = new Map<HourKey, HourBits>();
  for (const time of times) addPull(hours, new Date(time).toISOString(), 'accepted');
  const last = times.at(-1);
  return { hours, lastPull: last === undefined ? null : new Date(last).toISOString() };
}

const minutesBetween = (from: Iso, to: Iso) => secondsBetween(from, to) / 60;
// 2026-01-14 is a Wednesday; the 9 days before it start on Monday 2026-01-05.
const WEDNESDAY = '2026-01-14';

describe('learnCadence: steady devices', () => {
  it.each([
    ['every 10 s', every(10), 60],
    ['every 1 min', every(60), 60],
    ['every 5 min', every(300), 300],
    ['every 5 min, +-60 s jitter', every(300, 60), 300],
  ])('%s is steady and late within 45 min', (_name, kind, interval) => {
    const { hours, lastPull } = history(kind, WEDNESDAY, 9, 7);
    const cadence = learnCadence(hours, WEDNESDAY, null);
    expect(cadence).toMatchObject({ state: 'steady', interval, first: '2026-01-05', pulledDays: 7 });
    const late = lateAfter(cadence, lastPull) as Iso;
    expect(minutesBetween(lastPull as Iso, late)).toBeLessThanOrEqual(45);
    expect(minutesBetween(lastPull as Iso, late)).toBe(30);
  });

  it('hourly at :17 is steady, late 5 h after its last pull', () => {
    const { hours, lastPull } = history(hourlyAt17, WEDNESDAY);
    const cadence = learnCadence(hours, WEDNESDAY, null);
    expect(cadence).toMatchObject({ state: 'steady', interval: 3600, allowance: 18_000 });
    expect(lateAfter(cadence, lastPull)).toBe(addSeconds(lastPull as Iso, 5 * 3600));
  });

  it('is not steady when silent for the last 2 days of the window (edge silences count as gaps)', () => {
    const { hours } = history(every(60), WEDNESDAY, 9, 1, (daysBefore) => daysBefore > 2);
    const cadence = learnCadence(hours, WEDNESDAY, null);
    expect(cadence).toMatchObject({ pulledDays: 5, interval: 60 });
    expect(cadence.state).not.toBe('steady');
  });

  it('daily at 03:00 is steady with a 5-day allowance, so the offline threshold (24 h) comes first', () => {
    const { hours, lastPull } = history(dailyAt03, WEDNESDAY);
    const cadence = learnCadence(hours, WEDNESDAY, null);
    expect(cadence).toMatchObject({ state: 'steady', interval: 86_400, allowance: 5 * 86_400 });
    expect(minutesBetween(lastPull as Iso, lateAfter(cadence, lastPull) as Iso)).toBeGreaterThanOrEqual(
      24 * 60,
    );
  });
});

describe('learnCadence: business hours (every minute 08:00-17:59 UTC, Monday to Friday)', () => {
  const learnOn = (day: string) => learnCadence(history(businessHours, day).hours, day, null);

  it('is a pattern, late within 90 min of dying at 10:07 on a weekday', () => {
    const cadence = learnOn(WEDNESDAY);
    expect(cadence.state).toBe('pattern');
    expect(cadence.interval).toBe(60);
    const lastPull = `${WEDNESDAY}T10:06:00.000Z`;
    const late = lateAfter(cadence, lastPull) as Iso;
    expect(late > lastPull).toBe(true);
    expect(minutesBetween(lastPull, late)).toBeLessThanOrEqual(90);
  });

  it('is not late in the evening or night after its last pull at 17:59', () => {
    for (const day of ['2026-01-12', '2026-01-13', WEDNESDAY, '2026-01-15']) {
      const late = lateAfter(learnOn(day), `${day}T17:59:00.000Z`);
      const nextMorning = new Date(Date.parse(`${day}T09:00:00Z`) + DAY).toISOString();
      if (late !== null) expect(late >= nextMorning).toBe(true);
    }
    // A Friday's profile ends with the Saturday, which expects nothing.
    expect(lateAfter(learnOn('2026-01-16'), '2026-01-16T17:59:00.000Z')).toBeNull();
  });

  it('is never late on a Saturday', () => {
    // The Saturday and Sunday compare with the last ones, which had no pulls: nothing can be late.
    const cadence = learnOn('2026-01-17');
    expect(cadence.state).toBe('irregular');
    expect(lateAfter(learnOn('2026-01-16'), '2026-01-17T00:00:00.000Z')).toBeNull();
    for (const lastPull of [
      '2026-01-16T17:59:00.000Z',
      '2026-01-17T00:00:00.000Z',
      '2026-01-17T10:06:00.000Z',
    ]) {
      expect(lateAfter(cadence, lastPull)).toBeNull();
    }
  });

  it('leaves the first and last hour of each working day out of the profile', () => {
    const profile = learnOn(WEDNESDAY).profile as string;
    // Wednesday then Thursday: 08:00 and 17:00 expect nothing, 09:00-16:59 about 5/7 of 60 minutes.
    expect(profile.slice(8, 18)).toBe(`A${'q'.repeat(8)}A`);
    expect(profile.slice(32, 42)).toBe(`A${'q'.repeat(8)}A`);
    expect(profile.slice(0, 8)).toBe('AAAAAAAA');
  });
});

describe('learnCadence: irregular and learning', () => {
  it('sporadic (exponential gaps, mean 3 h) is never late within 24 h', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const { hours } = history(sporadic, WEDNESDAY, 9, seed);
      const cadence = learnCadence(hours, WEDNESDAY, null);
      expect(cadence.state).not.toBe('steady');
      expect(cadence.state).not.toBe('learning');
      const random = seeded(seed);
      for (let trial = 0; trial < 200; trial += 1) {
        const lastPull = new Date(Date.parse(`${WEDNESDAY}T00:00:00Z`) + random() * 2 * DAY).toISOString();
        const late = lateAfter(cadence, lastPull);
        if (late !== null) expect(minutesBetween(lastPull, late)).toBeGreaterThanOrEqual(24 * 60);
      }
    }
  });

  it('random pulls whose long gaps happen to stay under 3 medians are not steady (gaps are not tight)', () => {
    // The gaps of a week of exponential pulls (mean 3 h) that passes the 5% rule: median 209 min, longest 610.
    const gaps = [
      11, 14, 23, 26, 30, 50, 51, 55, 67, 77, 78, 85, 88, 94, 113, 115, 126, 152, 170, 198, 199, 199, 209,
      209, 217, 217, 227, 230, 236, 241, 244, 254, 271, 283, 284, 305, 306, 312, 316, 317, 320, 327, 391, 438,
      451, 474, 610,
    ];
    const random = seeded(692);
    const shuffled = [...gaps].sort(() => random() - 0.5);
    const hours = new Map<HourKey, HourBits>();
    let at = Date.parse('2026-01-07T00:03:00Z');
    for (const gap of [...shuffled, ...shuffled]) {
      addPull(hours, new Date(at).toISOString(), 'accepted');
      at += gap * MINUTE;
    }
    const cadence = learnCadence(hours, WEDNESDAY, '2026-01-01');
    expect(cadence.pulledDays).toBe(7);
    expect(cadence.state).not.toBe('steady');
  });

  it('a 5-minute device with +-2 min of jitter is still steady', () => {
    const { hours } = history(every(300, 120), WEDNESDAY, 9, 11);
    expect(learnCadence(hours, WEDNESDAY, null)).toMatchObject({ state: 'steady', interval: 300 });
  });

  it('is learning with 2 days of history', () => {
    const cadence = learnCadence(history(every(60), WEDNESDAY, 2).hours, WEDNESDAY, null);
    expect(cadence).toMatchObject({ state: 'learning', first: '2026-01-12', pulledDays: 2, interval: null });
    expect(lateAfter(cadence, `${WEDNESDAY}T00:00:00.000Z`)).toBeNull();
  });

  it('counts a first day given by the caller, before what the hours show', () => {
    const cadence = learnCadence(history(every(60), WEDNESDAY, 2).hours, WEDNESDAY, '2026-01-01');
    expect(cadence).toMatchObject({ first: '2026-01-01', state: 'learning', pulledDays: 2 });
  });

  it('is learning with pulls on only 4 of the last 7 days', () => {
    const { hours } = history(every(60), WEDNESDAY, 9, 1, (daysBefore) => daysBefore > 7 || daysBefore <= 4);
    const cadence = learnCadence(hours, WEDNESDAY, null);
    expect(cadence).toMatchObject({ state: 'learning', pulledDays: 4, first: '2026-01-05' });
  });

  it('is learning until 7 full days follow the first pull', () => {
    // Pulls from Wednesday 2026-01-07 to Wednesday 2026-01-14 included.
    const { hours } = history(every(60), '2026-01-15', 8);
    expect(learnCadence(hours, WEDNESDAY, null)).toMatchObject({ state: 'learning', pulledDays: 7 });
    expect(learnCadence(hours, '2026-01-15', null).state).toBe('steady');
  });
});

describe('lateAfter', () => {
  const pattern = (profile: string): Cadence => ({
    state: 'pattern',
    day: WEDNESDAY,
    first: '2026-01-01',
    pulledDays: 7,
    interval: 60,
    allowance: null,
    profile,
  });
  const expectedMinutes = LATE_PHI / PHI_PER_MINUTE;

  it('accrues the expected minutes of each hour by the minute, rounded up', () => {
    // 60 a hour ('8'): one a minute, so 18.43 minutes: late at 00:19.
    const full = pattern('8'.repeat(48));
    expect(expectedMinutes).toBeCloseTo(18.433, 3);
    expect(lateAfter(full, `${WEDNESDAY}T00:00:00.000Z`)).toBe(`${WEDNESDAY}T00:19:00.000Z`);
    // A silence from before the profile starts accrues from its start.
    expect(lateAfter(full, '2026-01-13T20:00:00.000Z')).toBe(`${WEDNESDAY}T00:19:00.000Z`);
    // 30 a hour ('e'), only from 10:00: 36.9 minutes after 10:00.
    const late = pattern(`${'A'.repeat(10)}${'e'.repeat(38)}`);
    expect(lateAfter(late, `${WEDNESDAY}T09:50:30.000Z`)).toBe(`${WEDNESDAY}T10:37:00.000Z`);
  });

  it('is null when the profile ends first, or without a cadence or a pull', () => {
    // 16 expected minutes in the last hour ('Q') are not enough.
    expect(lateAfter(pattern(`${'A'.repeat(47)}Q`), `${WEDNESDAY}T00:00:00.000Z`)).toBeNull();
    expect(lateAfter(pattern(`${'A'.repeat(47)}8`), `${WEDNESDAY}T00:00:00.000Z`)).toBe(
      '2026-01-15T23:19:00.000Z',
    );
    expect(lateAfter(pattern('8'.repeat(48)), '2026-01-16T00:00:00.000Z')).toBeNull();
    expect(lateAfter(null, `${WEDNESDAY}T00:00:00.000Z`)).toBeNull();
    expect(lateAfter(pattern('8'.repeat(48)), null)).toBeNull();
  });
});

describe('encodeCadence / decodeCadence', () => {
  const samples: Record<string, Cadence> = {
    learning: learnCadence(history(every(60), WEDNESDAY, 2).hours, WEDNESDAY, null),
    nothing: learnCadence(new Map(), WEDNESDAY, null),
    steady: learnCadence(history(every(300, 60), WEDNESDAY).hours, WEDNESDAY, null),
    daily: learnCadence(history(dailyAt03, WEDNESDAY).hours, WEDNESDAY, null),
    pattern: learnCadence(history(businessHours, WEDNESDAY).hours, WEDNESDAY, null),
    irregular: learnCadence(history(sporadic, WEDNESDAY, 9, 3).hours, WEDNESDAY, null),
  };

  it.each(Object.entries(samples))('round-trips %s compactly', (_name, cadence) => {
    const text = encodeCadence(cadence);
    expect(decodeCadence(text)).toEqual(cadence);
    expect(text.length).toBeLessThanOrEqual(cadence.profile === null ? 40 : 90);
  });

  it('covers every state', () => {
    expect(new Set(Object.values(samples).map((cadence) => cadence.state))).toEqual(
      new Set(['learning', 'steady', 'pattern', 'irregular']),
    );
  });

  it.each([
    '',
    'garbage',
    'S20260114202601057',
    'S20260114202601057.8c.1e0.x',
    'X20260114202601057.8c.1e0.',
    'S20261314202601057.8c.1e0.',
    'S20260230202601057.8c.1e0.',
    'S20260114202601059.8c.1e0.',
    'S20260114202601057.08c.1e0.',
    'S20260114202601057.8c..',
    'L20260114-2.1e.1e0.',
    'I20260114202601057.1e..',
    `P20260114202601057.1e..${'9'.repeat(48)}`,
    `P20260114202601057.1e..${'8'.repeat(47)}`,
    'S20260114202601057.8C.1E0.',
    'I20260114202601057.0..',
  ])('rejects %j', (text) => {
    expect(decodeCadence(text)).toBeNull();
  });

  it('accepts what it should', () => {
    expect(decodeCadence('S20260114202601057.8c.1e0.')).toMatchObject({ interval: 300, allowance: 1800 });
    expect(decodeCadence('I20260114202601057.1o..')).toMatchObject({ state: 'irregular', interval: 60 });
  });
});

describe('learnCadence is a function of the set of hours', () => {
  it('is deterministic and ignores the map insertion order', () => {
    const kinds = [every(300, 60), sporadic, businessHours, hourlyAt17];
    for (let seed = 1; seed <= 12; seed += 1) {
      const kind = kinds[seed % kinds.length] as Kind;
      const { hours } = history(kind, WEDNESDAY, 9, seed);
      const random = seeded(seed * 31);
      const shuffled = [...hours].sort(() => random() - 0.5);
      const first = learnCadence(hours, WEDNESDAY, null);
      expect(learnCadence(new Map(shuffled), WEDNESDAY, null)).toEqual(first);
      expect(learnCadence(new Map([...hours].reverse()), WEDNESDAY, null)).toEqual(first);
      expect(learnCadence(hours, WEDNESDAY, null)).toEqual(first);
    }
  });
});
