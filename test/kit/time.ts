import { addSeconds, type Iso } from '../../shared/time.ts';

/** ISO time `hours` after a fixed origin: tests pin time instead of sleeping. */
export const T0 = '2026-11-20T00:00:00.000Z';
export const at = (hours: number, from = T0) => new Date(Date.parse(from) + hours * 3_600_000).toISOString();
export const minutes = (from: Iso, count: number) => addSeconds(from, count * 60);
