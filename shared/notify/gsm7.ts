/**
 * The GSM 03.38 basic character set: every character here costs one septet in an SMS, so a text made only
 * of these and at most 160 long fits one segment. The extension table (below) costs two septets each: names
 * are rewritten into basic characters, and only our fixed words use one (the `~` of "every ~1 min").
 */
const BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const BASIC_SET = new Set(BASIC);
/** GSM 03.38's extension table: an escape septet, then the character. */
const EXTENSION_SET = new Set('\f^{}\\[~]|€');

export const SMS_SEGMENT_LENGTH = 160;

/**
 * The display name of the alert topic. SNS puts it in front of every SMS sent through the topic, followed by
 * `> ` (SNS developer guide, publishing SMS to a topic: display name `MyTopic` gives `MYTOPIC> Hello World!`;
 * upper-cased, the length is the same and still GSM-7), and the prefix counts in the segment. The stack (infra/stack.ts) sets the topic's
 * display name from this constant, so the budget below always matches what is delivered.
 */
export const ALERT_TOPIC_DISPLAY_NAME = 'pullwatch';
/** What SNS adds in front of an SMS sent through the alert topic. */
export const SMS_PREFIX = `${ALERT_TOPIC_DISPLAY_NAME}> `;
/** What our own SMS text may take so that prefix + text fit one GSM-7 segment. */
export const SMS_BUDGET = SMS_SEGMENT_LENGTH - SMS_PREFIX.length;

const REPLACEMENTS: Record<string, string> = {
  '\u2018': "'",
  '\u2019': "'",
  '\u201c': '"',
  '\u201d': '"',
  '\u2013': '-',
  '\u2014': '-',
  '\u2026': '...',
  '[': '(',
  ']': ')',
  '{': '(',
  '}': ')',
  '~': '-',
  '|': '/',
  '\\': '/',
  '^': '',
  '€': 'EUR',
  '\t': ' ',
};

/** The septets `text` takes in a GSM-7 SMS (an extension character takes two); null if it is not GSM-7. */
export function gsm7Septets(text: string): number | null {
  let septets = 0;
  for (const char of text) {
    if (BASIC_SET.has(char)) septets += 1;
    else if (EXTENSION_SET.has(char)) septets += 2;
    else return null;
  }
  return septets;
}

/** Rewrites any text into GSM-7 basic characters: accents dropped where needed, the rest replaced by '?'. */
export function toGsm7(text: string): string {
  let out = '';
  for (const char of text) {
    if (BASIC_SET.has(char) && char !== '\n' && char !== '\r') {
      out += char;
      continue;
    }
    if (char === '\n' || char === '\r') {
      out += ' ';
      continue;
    }
    const replacement = REPLACEMENTS[char];
    if (replacement !== undefined) {
      out += replacement;
      continue;
    }
    const stripped = char.normalize('NFD').replace(/\p{M}+/gu, '');
    out += stripped.length > 0 && [...stripped].every((part) => BASIC_SET.has(part)) ? stripped : '?';
  }
  return out;
}
