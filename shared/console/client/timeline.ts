import { h, svg } from './dom.ts';
import {
  describeHour,
  exact,
  HOUR_LABEL,
  hoursOf,
  type PullHistory,
  summarizeHistory,
  summarizeHours,
} from './format.ts';

/**
 * The pictures: a 48-hour strip per list row, and a 7-day chart on the integration's page. Shape carries the
 * meaning as well as colour (refused hours are short and hatched, silent ones a thin line), and each picture
 * has a sentence for screen readers.
 */

export function strip(timeline: { start: string; hours: string }): HTMLElement {
  const hours = hoursOf(timeline);
  const sentence = `Last ${hours.length} hours: ${summarizeHours(hours)}`;
  return h(
    'span',
    { class: 'strip', role: 'img', 'aria-label': sentence, title: sentence, 'data-hours': timeline.hours },
    ...hours.map((hour) =>
      h('span', { class: `hour ${hour.state}`, title: `${exact(hour.start)}: ${HOUR_LABEL[hour.state]}` }),
    ),
  );
}

const BAR = 4;
const HALF = 36;

/** Accepted pulls rise above the line, refused ones hang below it; the scale is the busiest hour's. */
export function chart(history: PullHistory): HTMLElement {
  const hours = Math.max(history.accepted.length, history.refused.length);
  const peak = Math.max(1, ...history.accepted, ...history.refused);
  const scale = (count: number) => (count === 0 ? 0 : Math.max(2, Math.round((count / peak) * HALF)));
  const origin = Date.parse(history.start);
  const bars: SVGElement[] = [];
  for (let index = 0; index < hours; index += 1) {
    const accepted = history.accepted[index] ?? 0;
    const refused = history.refused[index] ?? 0;
    const x = index * BAR;
    const label = describeHour(new Date(origin + index * 3_600_000).toISOString(), accepted, refused);
    const title = () => svg('title', {}, document.createTextNode(label));
    if (accepted + refused === 0) {
      bars.push(svg('rect', { class: 'silent', x, y: HALF - 1, width: BAR - 1, height: 2 }, title()));
      continue;
    }
    if (accepted > 0)
      bars.push(
        svg(
          'rect',
          { class: 'accepted', x, y: HALF - scale(accepted), width: BAR - 1, height: scale(accepted) },
          title(),
        ),
      );
    if (refused > 0)
      bars.push(
        svg('rect', { class: 'refused', x, y: HALF + 1, width: BAR - 1, height: scale(refused) }, title()),
      );
  }
  const days: SVGElement[] = [];
  for (let day = 0; day * 24 < hours; day += 1) {
    const at = new Date(origin + day * 86_400_000).toISOString();
    days.push(svg('line', { class: 'day', x1: day * 24 * BAR, x2: day * 24 * BAR, y1: 0, y2: HALF * 2 }));
    days.push(
      svg('text', { x: day * 24 * BAR + 2, y: HALF * 2 + 12 }, document.createTextNode(at.slice(5, 10))),
    );
  }
  const sentence = `Last ${Math.round(hours / 24)} days: ${summarizeHistory(history)}`;
  const picture = svg(
    'svg',
    {
      class: 'chart',
      viewBox: `0 0 ${hours * BAR} ${HALF * 2 + 16}`,
      role: 'img',
      'aria-label': sentence,
    },
    svg('line', { class: 'axis', x1: 0, x2: hours * BAR, y1: HALF, y2: HALF }),
    ...days,
    ...bars,
  );
  return h('figure', { class: 'history' }, picture, h('figcaption', {}, sentence, ' ', legend()));
}

export function legend(): HTMLElement {
  return h(
    'span',
    { class: 'legend' },
    h('span', { class: 'key accepted' }, 'accepted'),
    h('span', { class: 'key both' }, 'accepted and refused'),
    h('span', { class: 'key refused' }, 'refused only'),
    h('span', { class: 'key silent' }, 'no pull'),
  );
}
