/** Text helpers for anything shown to people (messages, summaries): no domain knowledge here. */

/** One printable line: control characters and runs of spaces become a single space. */
export const oneLine = (text: string) =>
  text
    .replace(/[\p{Cc}\u2028\u2029]+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();

/** Cuts to at most `max` UTF-16 units (how SNS counts), never inside a surrogate pair. */
export const clip = (text: string, max: number) => {
  if (text.length <= max) return text;
  let out = '';
  for (const char of text) {
    if (out.length + char.length > max - 3) break;
    out += char;
  }
  return `${out}...`;
};
