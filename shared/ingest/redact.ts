/**
 * Takes credentials out of a piece of a log line before it is kept anywhere (samples in the cycle report,
 * the Lambda's log line, the ingest ledger). Access logs are full of them: `?api_key=` in a request line,
 * `https://user:pass@host` in a referrer, `Authorization: Bearer ...` in a header dump, `"password": ...` in
 * a JSON body. We err on the side of hiding too much: a sample is for recognising a kind of line, not for
 * reading a value, so any field whose name has a secret-sounding word in it loses its value.
 *
 * Never throws, and runs in time linear in the text (no pattern can backtrack over a long run).
 */

export const REDACTED = '[redacted]';

/** Words that make a field name secret wherever they appear in it, in any case (`refreshtoken`, `X-AMZ-SIGNATURE`). */
const SECRET_PARTS = [
  'token',
  'password',
  'passwd',
  'secret',
  'signature',
  'credential',
  'authorization',
  'apikey',
  'cookie',
  'session',
];
/** Short words that make a name secret only as a word of it (`api_key`, `apiKey`, `sig`), not inside `monkey`. */
const SECRET_WORDS = new Set(['key', 'pass', 'pwd', 'pw', 'sig', 'auth', 'jwt', 'otp', 'bearer']);
/** Names from the log formats we read that contain a secret word but carry no secret. */
const NOT_SECRET = new Set(['routekey']);
/** Header values run to the end of the line or quote: `Authorization: SharedKey account:signature`. */
const WHOLE_VALUE = new Set(['authorization', 'proxyauthorization', 'cookie', 'setcookie']);

const compact = (name: string) => name.toLowerCase().replace(/[_.-]/g, '');

/** The words of a name, split at separators and at camelCase humps. */
function words(name: string): string[] {
  const humps = name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2');
  return `${humps} ${name}`.toLowerCase().split(/[\s_.-]+/);
}

export function isSecretName(name: string): boolean {
  const flat = compact(name);
  if (NOT_SECRET.has(flat)) return false;
  return (
    SECRET_PARTS.some((part) => flat.includes(part)) ||
    SECRET_WORDS.has(flat) ||
    words(name).some((word) => SECRET_WORDS.has(word))
  );
}

// Userinfo of any URL, up to the last `@` before the path (a password may hold an unencoded `@`).
const USERINFO = /([a-z][a-z0-9+.-]{0,30}:\/\/)[^\s/?#"<>]+@/gi;
// Authorization schemes followed by their credentials (the token may contain base64 and `=` padding).
const SCHEME =
  /\b(Basic|Bearer|Digest|Token|Negotiate|NTLM|AWS4-HMAC-SHA256|SharedKey)(\s+|%20|\+)(?!\[redacted\])[^\s"'<>\\]+/gi;
// A name followed by `=` or `:`, each side optionally quoted (or quoted with an escaped quote, as in JSON in a
// JSON string). The look-behind anchors names at their start so a long run of letters is tried once.
// `%` too: a query parameter's name may be percent-encoded (`api%5Fkey=` is read as `api_key` by URL parsers).
const NAMED = /(?<![A-Za-z0-9_.%-])([A-Za-z0-9_.%-]{1,128})(\\?["']?)(\s{0,8}[:=]\s{0,8})(\\?["']?)/g;
const UNQUOTED_END = new Set('&,;"\'}]#)<>\\ \t\r\n\v\f');
const WHOLE_VALUE_END = new Set('"\'\r\n\\');

/** The text with every credential it holds replaced by `[redacted]`. */
export function redact(text: string): string {
  try {
    return redactNamed(text.replace(USERINFO, `$1${REDACTED}@`).replace(SCHEME, `$1$2${REDACTED}`));
  } catch {
    // Unreachable in practice; a sample is never worth leaking a secret for.
    return REDACTED;
  }
}

function redactNamed(text: string): string {
  let out = '';
  let copied = 0;
  NAMED.lastIndex = 0;
  for (let match = NAMED.exec(text); match !== null; match = NAMED.exec(text)) {
    const [whole, name = '', , , open = ''] = match;
    const valueStart = match.index + whole.length;
    if (!isSecretName(decodeName(name))) {
      // Go on right after the name, so a value that is itself `name=value` is looked at too.
      NAMED.lastIndex = match.index + name.length;
      continue;
    }
    const valueEnd = open === '' ? unquotedEnd(text, valueStart, name) : quotedEnd(text, valueStart, open);
    if (valueEnd === valueStart) {
      NAMED.lastIndex = valueStart;
      continue;
    }
    out += text.slice(copied, valueStart) + REDACTED;
    copied = valueEnd;
    NAMED.lastIndex = valueEnd;
  }
  return out + text.slice(copied);
}

/** A name with its `%XX` escapes decoded (a malformed escape stays as it is). */
function decodeName(name: string): string {
  return name.includes('%')
    ? name.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)))
    : name;
}

function unquotedEnd(text: string, from: number, name: string): number {
  const ends = WHOLE_VALUE.has(compact(name)) ? WHOLE_VALUE_END : UNQUOTED_END;
  let index = from;
  while (index < text.length && !ends.has(text[index] as string)) index += 1;
  return index;
}

/** Where a quoted value ends: at its closing quote, or at the end of a line cut short. */
function quotedEnd(text: string, from: number, open: string): number {
  const quote = open[open.length - 1] as string;
  if (open.length === 1) {
    for (let index = from; index < text.length; index += 1) {
      const char = text[index];
      if (char === '\\') index += 1;
      else if (char === quote) return index;
    }
    return text.length;
  }
  // An escaped quote opened it (JSON inside a JSON string): read the outer escapes to get the inner text, and
  // end at the first inner quote that is not itself escaped in the inner text.
  let innerEscape = false;
  for (let index = from; index < text.length; ) {
    const char = text[index] as string;
    if (char === quote) return index; // the outer string ends: so does the value
    const decoded = char === '\\' ? (text[index + 1] ?? '') : char;
    if (innerEscape) innerEscape = false;
    else if (decoded === '\\') innerEscape = true;
    else if (decoded === quote) return index;
    index += char === '\\' ? 2 : 1;
  }
  return text.length;
}
