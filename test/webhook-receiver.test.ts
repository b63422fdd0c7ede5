import { execFileSync, spawnSync } from 'node:child_process';
import { createSign } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { ChatNotificationSchema } from '../shared/notify/chat.ts';
import { renderNotification } from '../shared/notify/render.ts';
import { snsMessageOf } from '../shared/notify/sns-size.ts';
import { offlineIssueFor } from './kit/checks.ts';
import { GUIDE } from './kit/guide.ts';
import { at } from './kit/time.ts';
import { integrationInMemory } from './kit/world.ts';

/**
 * The webhook receiver of docs/deploy-aws.md (section 5b) and the README's test of it, run as written: the
 * README's block under `node --test`, and more cases here against real pullwatch messages. Messages are shaped
 * as SNS's "HTTP/HTTPS notification JSON format" and "subscription confirmation JSON format" pages show them
 * and signed as "Verifying the signatures of Amazon SNS messages" says (SignatureVersion 2, SHA256withRSA),
 * with a throwaway certificate standing in for SNS's.
 */

const README = await readFile(join(import.meta.dirname, '..', 'README.md'), 'utf8');

/** The code block right after `<!-- marker -->`. */
function block(text: string, marker: string): string {
  const start = text.indexOf(`<!-- ${marker} -->`);
  if (start === -1) throw new Error(`no ${marker} block`);
  const match = /```js\n([\s\S]*?)```/.exec(text.slice(start));
  if (!match?.[1]) throw new Error(`no code after ${marker}`);
  return match[1];
}

type Receive = (
  body: string,
  options: { topicArn: string; get: (url: string) => Promise<string>; now?: Date },
) => Promise<unknown>;

const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:Pullwatch-AlertsE2FA8C7D';
const CERT_URL =
  'https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0123456789abcdef0123456789abcdef.pem';
/** The documented order of the signed fields, written out here, not taken from the receiver. */
const SIGNED_FIELDS: Record<string, string[]> = {
  Notification: ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'],
  SubscriptionConfirmation: [
    'Message',
    'MessageId',
    'SubscribeURL',
    'Timestamp',
    'Token',
    'TopicArn',
    'Type',
  ],
};

let dir: string;
let key: string;
let cert: string;
let receive: Receive;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pullwatch-webhook-'));
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=sns.amazonaws.com'].concat([
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ]),
    { stdio: 'ignore' },
  );
  key = await readFile(join(dir, 'key.pem'), 'utf8');
  cert = await readFile(join(dir, 'cert.pem'), 'utf8');
  await writeFile(join(dir, 'sns-webhook.mjs'), block(GUIDE, 'webhook-receiver'));
  await writeFile(join(dir, 'sns-webhook.test.mjs'), block(README, 'webhook-receiver-test'));
  ({ receive } = (await import(pathToFileURL(join(dir, 'sns-webhook.mjs')).href)) as { receive: Receive });
}, 60_000);

/** A POST body as SNS sends it, signed. */
function snsBody(type: string, fields: Record<string, string>, signWith = () => key): string {
  const message: Record<string, string> = {
    Type: type,
    MessageId: 'da41e39f-ea4d-435a-b922-c6aae3915ebe',
    TopicArn: TOPIC,
    Timestamp: new Date().toISOString(),
    SignatureVersion: '2',
    SigningCertURL: CERT_URL,
    UnsubscribeURL: `https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=${TOPIC}:1`,
    ...fields,
  };
  const text = (SIGNED_FIELDS[type] ?? [])
    .filter((name) => message[name] !== undefined)
    .map((name) => `${name}\n${message[name]}\n`)
    .join('');
  return JSON.stringify({
    ...message,
    Signature: createSign('RSA-SHA256').update(text).sign(signWith(), 'base64'),
  });
}

/** What a real pullwatch publish hands an HTTPS subscriber. */
function pullwatchPublish() {
  const integration = { ...integrationInMemory({ name: 'Zürich "edge" <!channel>' }), last_pull_at: at(1) };
  const issue = offlineIssueFor(integration, at(30));
  if (!issue) throw new Error('expected an offline issue');
  const notification = renderNotification(issue, 'issue_opened', { now: at(30) });
  const https = (JSON.parse(snsMessageOf(notification)) as Record<string, string>).https as string;
  return { notification, https };
}

describe('the README webhook receiver test', () => {
  it('passes under node --test with the receiver of the deploy guide', () => {
    const run = spawnSync(process.execPath, ['--test', join(dir, 'sns-webhook.test.mjs')], {
      encoding: 'utf8',
      cwd: dir,
    });
    expect(run.stdout).toContain('# pass 2');
    expect(run.stdout).toContain('# fail 0');
    expect(run.status).toBe(0);
  });

  it('uses a chat form that the documented schema accepts', () => {
    const literal = /const chat = (\{.*\});\n/.exec(block(README, 'webhook-receiver-test'))?.[1];
    expect(literal).toBeDefined();
    // The README's own object literal, evaluated to check it.
    const chat: unknown = new Function(`return (${literal});`)();
    expect(ChatNotificationSchema.safeParse(chat).success).toBe(true);
  });
});

describe('the deploy guide webhook receiver', () => {
  const get =
    (visited: string[] = []) =>
    async (url: string) => {
      visited.push(url);
      return cert;
    };

  it('returns the chat form of a real pullwatch alert, exactly as published', async () => {
    const { notification, https } = pullwatchPublish();
    const body = snsBody('Notification', { Subject: notification.subject, Message: https });
    const chat = await receive(body, { topicArn: TOPIC, get: get() });
    expect(chat).toEqual(notification.chat);
    expect(ChatNotificationSchema.parse(chat).metadata?.threadId).toMatch(/^pullwatch-/);
  });

  it('verifies a notification without a subject too', async () => {
    const { notification, https } = pullwatchPublish();
    expect(
      await receive(snsBody('Notification', { Message: https }), { topicArn: TOPIC, get: get() }),
    ).toEqual(notification.chat);
  });

  it.each([
    ['a changed message', (body: string) => body.replace('Zürich', 'Zurich'), /bad signature/],
    ['another topic', (body: string) => body.replaceAll(TOPIC, `${TOPIC}x`), /unexpected topic/],
    [
      'a certificate from elsewhere',
      (body: string) => body.replace(CERT_URL, 'https://sns.eu-west-1.amazonaws.com.evil.example/cert.pem'),
      /not an SNS URL/,
    ],
    [
      'a certificate over plain HTTP',
      (body: string) => body.replace(CERT_URL, CERT_URL.replace('https:', 'http:')),
      /not an SNS URL/,
    ],
    [
      'SignatureVersion 1',
      (body: string) => body.replace('"SignatureVersion":"2"', '"SignatureVersion":"1"'),
      /SignatureVersion 2/,
    ],
    [
      'an unknown type',
      (body: string) => body.replace('"Type":"Notification"', '"Type":"Surprise"'),
      /unknown message type/,
    ],
  ])('refuses %s', async (_, spoil, error) => {
    const { notification, https } = pullwatchPublish();
    const body = snsBody('Notification', { Subject: notification.subject, Message: https });
    await expect(receive(spoil(body), { topicArn: TOPIC, get: get() })).rejects.toThrow(error);
  });

  it('refuses a message signed by another key', async () => {
    const { https } = pullwatchPublish();
    const other = execFileSync('openssl', ['genrsa', '2048'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const body = snsBody('Notification', { Message: https }, () => other);
    await expect(receive(body, { topicArn: TOPIC, get: get() })).rejects.toThrow(/bad signature/);
  });

  it('refuses a certificate out of its validity', async () => {
    const { https } = pullwatchPublish();
    const later = new Date(Date.now() + 5 * 86_400_000);
    await expect(
      receive(snsBody('Notification', { Message: https }), { topicArn: TOPIC, get: get(), now: later }),
    ).rejects.toThrow(/expired certificate/);
  });

  it('confirms a subscription only when it is signed, and never visits a URL off SNS', async () => {
    const subscribe = `https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=${TOPIC}&Token=abc`;
    const fields = {
      Token: 'abc',
      SubscribeURL: subscribe,
      Message: `You have chosen to subscribe to the topic ${TOPIC}.`,
    };
    const visited: string[] = [];
    expect(
      await receive(snsBody('SubscriptionConfirmation', fields), { topicArn: TOPIC, get: get(visited) }),
    ).toBeNull();
    expect(visited.filter((url) => url === subscribe)).toHaveLength(1);

    const forged = snsBody('SubscriptionConfirmation', fields).replace('Token=abc', 'Token=abd');
    const seen: string[] = [];
    await expect(receive(forged, { topicArn: TOPIC, get: get(seen) })).rejects.toThrow(/bad signature/);
    expect(seen.filter((url) => url.includes('ConfirmSubscription'))).toEqual([]);

    const offSns = { ...fields, SubscribeURL: 'https://attacker.example/?Action=ConfirmSubscription' };
    await expect(
      receive(snsBody('SubscriptionConfirmation', offSns), { topicArn: TOPIC, get: get() }),
    ).rejects.toThrow(/not an SNS URL/);
  });
});
