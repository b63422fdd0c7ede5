import { exact, relative } from './format.ts';

/**
 * A tiny element builder. Text always goes in as text nodes, never as HTML, so nothing an API returns can
 * become markup; and no inline style, which the Content-Security-Policy forbids.
 */

type Child = Node | string | number | null | undefined | false;
type Attributes = Record<string, string | number | boolean | null | undefined | ((event: Event) => void)>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Attributes = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (typeof value === 'function') element.addEventListener(name.replace(/^on/, ''), value);
    else if (value === true) element.setAttribute(name, '');
    else if (value !== false && value !== null && value !== undefined)
      element.setAttribute(name, String(value));
  }
  append(element, ...children);
  return element;
}

const SVG = 'http://www.w3.org/2000/svg';
export function svg(tag: string, attributes: Record<string, string | number> = {}, ...children: Node[]) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  for (const child of children) element.append(child);
  return element;
}

export function append(parent: Node, ...children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, ...children);
}

/** "12 min ago", with the exact time on hover and for machines. */
export function ago(at: string | null, now: string, never = 'never'): HTMLElement {
  if (!at) return h('span', { class: 'muted' }, never);
  return h('time', { datetime: at, title: exact(at) }, relative(at, now));
}

/** A labelled fact of a description list. */
export function fact(term: string, ...value: Child[]): Node[] {
  return [h('dt', {}, term), h('dd', {}, ...value)];
}
