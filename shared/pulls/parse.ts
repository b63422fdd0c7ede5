import { authOutcomeOf, credentialMarkOfValue, queryCarriesCredential } from '../auth/verify.ts';
import type { PullRecord } from './index.ts';
import { parseClfTime, parseEpoch, parseIsoTime } from './log-time.ts';

/**
 * Pull-log parsing (the formats are listed in the README, "Pull logs"). Each line is recognised on its own, so one file may mix formats:
 *   1. canonical JSON lines: {"time","integration_id","method","status","ip","user_agent"}
 *   2. API Gateway access-log JSON: requestTime (CLF) or requestTimeEpoch, status, httpMethod, path/rawPath
 *   3. Apache/nginx combined log format on /v1/integrations/{id}/content
 *   4. ALB access logs (space-separated, ISO time with microseconds, the request as "METHOD scheme://host:port/path HTTP/x")
 *   5. CloudFront standard logs (W3C, tab-separated, columns named by the file's most recent `#Fields:` line)
 * Canonical and API Gateway lines may carry `auth` (the auth outcome of auth/verify.ts), and combined lines may end
 * with it as one more field (the nginx `log_format` of the README); an unknown value is read as no outcome.
 * Where a line shows that the device sent its password in the URL (an `api_key` in the query of a combined,
 * ALB or CloudFront line; `"credential":"query"` in canonical and API Gateway lines; the README's nginx format's
 * last field), the record says `credential_in_url: true`; otherwise it has no such field. The value itself is
 * never read into the record.
 * W3C's `#Fields:` makes parsing stateful per file: pass one ParseContext per file (newParseContext()).
 * Nothing here throws, whatever the input: a line is a record, blank (null), or skipped with a reason.
 */
export type SkipReason =
  | 'not_json'
  | 'unrecognized'
  | 'other_path'
  | 'missing_field'
  | 'bad_time'
  | 'bad_status'
  | 'bad_type'
  | 'too_long'
  /** A request the client aborted (CloudFront status 000, ALB status `-`): nothing was delivered. */
  | 'aborted'
  /** API Gateway's default access-log format: `routeKey` (or nothing) instead of the request path. */
  | 'no_request_path'
  /** Only the route template (`/v1/integrations/{id}/content`, REST `resourcePath`): which integration is unknown. */
  | 'route_template_only';
/** Kept for readers of the first version. */
export type MalformedReason = SkipReason;

/**
 * A skipped line that is still a well-formed access-log line (another path, an aborted request, a route template)
 * carries its time: it is no pull, but it shows the feed is delivering (see the pipeline guard).
 */
export type ParsedLine =
  | { ok: true; record: PullRecord }
  | { ok: false; reason: SkipReason; time?: string }
  | null;

/** A skip that keeps the line's time when it could be read. */
const skipAt = (reason: SkipReason, time: string | null): ParsedLine =>
  time === null ? { ok: false, reason } : { ok: false, reason, time };

/** Lines longer than this are not access-log records; refusing them keeps memory and time bounded. */
export const MAX_LINE_LENGTH = 16 * 1024;

/** The path must end with the content route (any prefix: stage, version); the query string is not the path. */
const CONTENT_PATH = /\/integrations\/([A-Za-z0-9_-]{1,128})\/content$/;
// `$remote_user` is logged as-is, so a basic-auth user name may hold spaces: bounded so a hostile line stays linear.
// After the agent: the auth outcome, then the credential mark (the README's nginx format), each optional and read
// only when it is one of the codes (nginx writes `""` when the check gave no answer, `-` for an unset variable).
const COMBINED =
  /^(\S+) \S+ .{1,512}? \[([^\]]{1,64})\] "([A-Z]+) (\S+)(?: [^"]*)?" (\d{3}) \S+(?: "(?:[^"\\]|\\.)*" "((?:[^"\\]|\\.)*)"(?: "([^"\\]{0,32})"(?: "([^"\\]{0,16})")?)?)?/;
/** A route template of the content endpoint (`{id}`, `{integrationId}`, `{proxy+}` ...). */
const CONTENT_TEMPLATE = /\/integrations\/\{[^}/]*\}\/content$/;
/** ALB: type time elb client:port target:port 3 timings elb_status target_status received sent "request" "user_agent" ... */
const ALB =
  /^(?:https?|h2|grpcs|ws|wss) (\d{4}-\S+) \S+ (\S+) \S+ \S+ \S+ \S+ (\d{3}|-) \S+ \S+ \S+ "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"/;
function parseStatus(value: unknown): number | null {
  const status = typeof value === 'string' && /^\d{3}$/.test(value) ? Number(value) : value;
  return typeof status === 'number' && Number.isInteger(status) && status >= 100 && status <= 599
    ? status
    : null;
}

const optionalString = (value: unknown): string | null | undefined =>
  value === undefined || value === null || value === '-'
    ? null
    : typeof value === 'string'
      ? value
      : undefined;

/** The integration id in a request path, or null if the path is not a content endpoint. */
export function integrationIdOfPath(path: string): string | null {
  const cut = path.search(/[?#]/);
  return CONTENT_PATH.exec(cut === -1 ? path : path.slice(0, cut))?.[1] ?? null;
}

/** Undoes the escaping of quoted log fields: nginx writes `\xHH`, Apache `\"` and `\\`. */
function unescapeLogField(value: string): string {
  if (!value.includes('\\')) return value;
  // Escaped bytes may form one multi-byte UTF-8 character, so decode bytes, not characters.
  const parts: Buffer[] = [];
  for (const match of value.matchAll(/\\x([0-9A-Fa-f]{2})|\\([\s\S])|([^\\]+|\\$)/g)) {
    if (match[1] !== undefined) parts.push(Buffer.from([Number.parseInt(match[1], 16)]));
    else parts.push(Buffer.from(match[2] ?? match[3] ?? '', 'utf8'));
  }
  return Buffer.concat(parts).toString('utf8');
}

/**
 * What parsing remembers between the lines of one file: the columns of the most recent W3C `#Fields:` line.
 * One per file; a file without a `#Fields:` line is read with CloudFront's default column order.
 */
export interface ParseContext {
  fields: Map<string, number> | null;
}

export const newParseContext = (): ParseContext => ({ fields: null });

/** CloudFront's standard-log columns in AWS's default order (used until a `#Fields:` line says otherwise). */
const CLOUDFRONT_DEFAULT_FIELDS =
  'date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end';
const columnsOf = (names: string[]) => new Map(names.map((name, index) => [name, index] as const));
const DEFAULT_COLUMNS = columnsOf(CLOUDFRONT_DEFAULT_FIELDS.split(' '));

/** A W3C directive (`#Version:`, `#Fields:`, `#Software:` ...): a header, never a record nor malformed. */
function directive(line: string, context: ParseContext | undefined): null {
  if (context && line.startsWith('#Fields:')) {
    const names = line.slice('#Fields:'.length).trim().split(/\s+/).filter(Boolean);
    context.fields = names.length > 0 ? columnsOf(names) : null;
  }
  return null;
}

/** Parses one pull-log line of any supported format; `context` carries the W3C `#Fields:` of the same file. */
export function parseLine(raw: string, context?: ParseContext): ParsedLine {
  if (raw.length > MAX_LINE_LENGTH) return { ok: false, reason: 'too_long' };
  // Trimming copies the line; most lines need none.
  const first = raw.charCodeAt(0);
  const last = raw.charCodeAt(raw.length - 1);
  const line = first > 32 && last > 32 ? raw : raw.trim();
  if (line === '') return null;
  if (line.charCodeAt(0) === 123 /* { */) {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      return { ok: false, reason: 'not_json' };
    }
    // A line that starts with `{` and parses is always an object.
    const entry = value as Record<string, unknown>;
    if ('integration_id' in entry) return canonical(entry);
    if ('requestTime' in entry || 'requestTimeEpoch' in entry || 'httpMethod' in entry)
      return apiGateway(entry);
    return { ok: false, reason: 'missing_field' };
  }
  if (line.charCodeAt(0) === 35 /* # */) {
    return /^#[A-Za-z-]+:/.test(line) ? directive(line, context) : { ok: false, reason: 'unrecognized' };
  }
  if (line.includes('\t') && (context?.fields || W3C_DATE_FIRST.test(line)))
    return cloudFront(line, context?.fields ?? DEFAULT_COLUMNS);
  if (ALB_START.test(line)) return alb(line);
  return combined(line);
}

const W3C_DATE_FIRST = /^\d{4}-\d{2}-\d{2}\t/;
const ALB_START = /^(?:https?|h2|grpcs|ws|wss) \d{4}-/;

/** The auth outcome of a line, as a field only when the line has one (records without it stay as they were). */
function withAuth(value: unknown): { auth?: PullRecord['auth'] } {
  const auth = authOutcomeOf(value);
  return auth === null ? {} : { auth };
}

/** Whether the query of a request target or URL (after `?`, before `#`) carries a password verification reads. */
function queryHasCredential(target: string): boolean {
  const at = target.indexOf('?');
  if (at === -1) return false;
  const hash = target.indexOf('#', at);
  return queryCarriesCredential(target.slice(at + 1, hash === -1 ? undefined : hash));
}

/** `credential_in_url` as a field only when the line shows it (every other record stays as it was). */
function withCredential(inUrl: boolean): { credential_in_url?: true } {
  return inUrl ? { credential_in_url: true } : {};
}

/** A `credential` mark (canonical, API Gateway, the nginx format's last field) saying the URL carried it. */
const markSaysUrl = (value: unknown): boolean => credentialMarkOfValue(value) === 'query';

/** Format 1: what pullwatch's own content endpoint writes. */
function canonical(entry: Record<string, unknown>): ParsedLine {
  const { time, integration_id: integrationId, status } = entry;
  if (time === undefined || integrationId === undefined || status === undefined) {
    return { ok: false, reason: 'missing_field' };
  }
  if (typeof integrationId !== 'string' || integrationId.length === 0 || integrationId.length > 128) {
    return { ok: false, reason: 'bad_type' };
  }
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) {
    return { ok: false, reason: 'bad_status' };
  }
  const normalised = typeof time === 'string' ? parseIsoTime(time) : null;
  if (normalised === null) return { ok: false, reason: 'bad_time' };
  const method = entry.method === undefined ? 'GET' : entry.method;
  const ip = optionalString(entry.ip);
  const userAgent = optionalString(entry.user_agent);
  if (typeof method !== 'string' || ip === undefined || userAgent === undefined)
    return { ok: false, reason: 'bad_type' };
  return {
    ok: true,
    record: {
      time: normalised,
      integration_id: integrationId,
      method: method.toUpperCase(),
      status,
      ip,
      user_agent: userAgent,
      ...withAuth(entry.auth),
      ...withCredential(markSaysUrl(entry.credential)),
    },
  };
}

/** Format 2: an API Gateway access-log line in JSON (either REST or HTTP API field names). */
function apiGateway(entry: Record<string, unknown>): ParsedLine {
  const template = typeof entry.resourcePath === 'string' ? entry.resourcePath : undefined;
  const path = [entry.path, entry.rawPath, template].find((value) => typeof value === 'string') as
    | string
    | undefined;
  const time =
    entry.requestTimeEpoch !== undefined
      ? parseEpoch(entry.requestTimeEpoch)
      : typeof entry.requestTime === 'string'
        ? parseClfTime(entry.requestTime)
        : null;
  if (path === undefined && entry.status !== undefined && 'routeKey' in entry)
    return skipAt('no_request_path', time);
  if (path === undefined || entry.status === undefined) return { ok: false, reason: 'missing_field' };
  if (path === template && CONTENT_TEMPLATE.test(path)) return skipAt('route_template_only', time);
  const integrationId = integrationIdOfPath(path);
  if (integrationId === null) return skipAt('other_path', time);
  const status = parseStatus(entry.status);
  if (status === null) return { ok: false, reason: 'bad_status' };
  if (time === null)
    return {
      ok: false,
      reason: (entry.requestTime ?? entry.requestTimeEpoch) ? 'bad_time' : 'missing_field',
    };
  const method = entry.httpMethod === undefined ? 'GET' : entry.httpMethod;
  const ip = optionalString(entry.ip ?? entry.sourceIp);
  const userAgent = optionalString(entry.userAgent);
  if (typeof method !== 'string' || ip === undefined || userAgent === undefined)
    return { ok: false, reason: 'bad_type' };
  return {
    ok: true,
    record: {
      time,
      integration_id: integrationId,
      method: method.toUpperCase(),
      status,
      ip,
      user_agent: userAgent,
      // The Lambda authorizer's outcome, logged by the deploy guide's format as `$context.authorizer.outcome`.
      ...withAuth(entry.auth),
      // Its credential mark (`$context.authorizer.credential`): API Gateway's paths carry no query string.
      ...withCredential(markSaysUrl(entry.credential) || queryHasCredential(path)),
    },
  };
}

/** Format 3: `ip - user [time] "METHOD path HTTP/x" status bytes "referer" "agent"`. */
function combined(line: string): ParsedLine {
  const match = COMBINED.exec(line);
  if (!match) return { ok: false, reason: 'unrecognized' };
  const time = parseClfTime(match[2] as string);
  const integrationId = integrationIdOfPath(match[4] as string);
  if (integrationId === null)
    return skipAt(CONTENT_TEMPLATE.test(match[4] as string) ? 'route_template_only' : 'other_path', time);
  if (time === null) return { ok: false, reason: 'bad_time' };
  const status = parseStatus(Number(match[5]));
  if (status === null) return { ok: false, reason: 'bad_status' };
  const agent = match[6];
  const target = match[4] as string;
  // The README's format logs the path without its query and says `query` in its last field; the combined
  // format logs the request whole (`$request`), so there the query itself says.
  const inUrl = markSaysUrl(match[8]) || queryHasCredential(target);
  return {
    ok: true,
    record: {
      time,
      integration_id: integrationId,
      method: match[3] as string,
      status,
      ip: match[1] === '-' ? null : (match[1] as string),
      user_agent: agent === undefined || agent === '-' ? null : unescapeLogField(agent),
      ...withAuth(match[7]),
      ...withCredential(inUrl),
    },
  };
}

/** The path of an absolute request URL (`https://host:443/path?query`), or the text itself if it is a path. */
function pathOfUrl(url: string): string {
  const scheme = url.indexOf('://');
  if (scheme === -1) return url;
  const slash = url.indexOf('/', scheme + 3);
  return slash === -1 ? '/' : url.slice(slash);
}

/** `%XX` escapes decoded; a malformed escape leaves the text as it is (never throws). */
function percentDecode(value: string): string {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** An `ip:port` (IPv4 or IPv6 without brackets) without its port; `-` is no client. */
function ipOfClient(value: string): string | null {
  if (value === '-') return null;
  const colon = value.lastIndexOf(':');
  return colon === -1 ? value : value.slice(0, colon);
}

/**
 * Format 4: ALB access logs (Elastic Load Balancing guide, "Access logs for your Application Load Balancer",
 * https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-access-logs.html).
 * The status is elb_status_code, what the client got; `-` means the client went away before a response.
 */
function alb(line: string): ParsedLine {
  const match = ALB.exec(line);
  if (!match) return { ok: false, reason: 'unrecognized' };
  const time = parseIsoTime(match[1] as string);
  const request = /^([A-Z]+) (\S+)/.exec(match[4] as string);
  if (!request) return skipAt('other_path', time);
  const path = pathOfUrl(request[2] as string);
  const integrationId = integrationIdOfPath(path);
  if (integrationId === null) return skipAt('other_path', time);
  if (match[3] === '-') return skipAt('aborted', time);
  if (time === null) return { ok: false, reason: 'bad_time' };
  const status = parseStatus(match[3]);
  if (status === null) return { ok: false, reason: 'bad_status' };
  const agent = match[5] as string;
  return {
    ok: true,
    record: {
      time,
      integration_id: integrationId,
      method: request[1] as string,
      status,
      ip: ipOfClient(match[2] as string),
      user_agent: agent === '-' || agent === '' ? null : unescapeLogField(agent),
      // ALB logs the request URL whole, query included, whatever the operator configures.
      ...withCredential(queryHasCredential(path)),
    },
  };
}

/**
 * Format 5: CloudFront standard logs (CloudFront Developer Guide, "Standard logging reference", log file fields,
 * https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/standard-logs-reference.html): W3C,
 * tab-separated, columns by name. `cs(User-Agent)` is URL-encoded; status `000` is a request the viewer aborted.
 */
function cloudFront(line: string, columns: Map<string, number>): ParsedLine {
  const values = line.split('\t');
  const column = (name: string): string | undefined => {
    const index = columns.get(name);
    return index === undefined ? undefined : values[index];
  };
  const [date, clock, method, stem, statusText] = [
    'date',
    'time',
    'cs-method',
    'cs-uri-stem',
    'sc-status',
  ].map(column);
  if (date === undefined || clock === undefined || method === undefined || stem === undefined) {
    return { ok: false, reason: values.length < 5 ? 'unrecognized' : 'missing_field' };
  }
  if (statusText === undefined) return { ok: false, reason: 'missing_field' };
  const time =
    /^\d{4}-\d{2}-\d{2}$/.test(date) && /^\d{2}:\d{2}:\d{2}$/.test(clock)
      ? parseIsoTime(`${date}T${clock}Z`)
      : null;
  const integrationId = integrationIdOfPath(percentDecode(stem));
  if (integrationId === null) return skipAt('other_path', time);
  if (statusText === '000') return skipAt('aborted', time);
  if (time === null) return { ok: false, reason: 'bad_time' };
  const status = parseStatus(statusText);
  if (status === null) return { ok: false, reason: 'bad_status' };
  if (!/^[A-Z]+$/.test(method)) return { ok: false, reason: 'bad_type' };
  const ip = column('c-ip');
  const agent = column('cs(User-Agent)');
  // `cs-uri-query` is the query without `?` (`-` for none); CloudFront logs it whatever the operator sets.
  const query = column('cs-uri-query');
  return {
    ok: true,
    record: {
      time,
      integration_id: integrationId,
      method,
      status,
      ip: ip === undefined || ip === '-' || ip === '' ? null : ip,
      user_agent: agent === undefined || agent === '-' || agent === '' ? null : percentDecode(agent),
      ...withCredential(query !== undefined && queryCarriesCredential(query)),
    },
  };
}
