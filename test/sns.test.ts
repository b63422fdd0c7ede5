import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { TransportError } from '../shared/errors.ts';
import type { Issue } from '../shared/issue/index.ts';
import { ChatNotificationSchema } from '../shared/notify/chat.ts';
import { SnsPublisher } from '../shared/notify/publishers.ts';
import { type Notification, renderDigest, renderNotification } from '../shared/notify/render.ts';
import type { Iso } from '../shared/time.ts';
import { isGsm7Basic, offlineIssueFor } from './kit/checks.ts';
import { useTestDb } from './kit/db.ts';
import { drop, useTempDirs } from './kit/files.ts';
import { pull } from './kit/lines.ts';
import {
  messageAttributes,
  messageOf,
  PUBLISH_OK,
  snsPublisher as publisherTo,
  snsClient,
  snsError,
  TOPIC_ARN,
  useSnsEndpoint,
} from './kit/sns.ts';
import { at } from './kit/time.ts';
import { addIntegration, cycle, world } from './kit/world.ts';

useTestDb();
useTempDirs();
const sns = useSnsEndpoint();
const snsPublisher = () => publisherTo(sns.endpoint);

/** A Palo Alto firewall of a new world. */
const firewall = (w: Awaited<ReturnType<typeof world>>, name: string) =>
  addIntegration(w, { name, kind: 'firewall', vendor: 'paloalto' });

async function offlineIssue(name: string): Promise<Issue> {
  const issue = offlineIssueFor(await firewall(await world(), name), at(30));
  if (!issue) throw new Error('expected an offline issue');
  return issue;
}

describe('SnsPublisher on the wire', () => {
  it('publishes one Publish with a json message structure, the subject and the filter attributes', async () => {
    const issue = await offlineIssue('Branch PA-440 Zürich');
    const notification = renderNotification(issue, 'issue_opened', { now: at(30) });

    const messageId = await snsPublisher().publish(notification);

    expect(messageId).toBe('m-1');
    expect(sns.requests).toHaveLength(1);
    const request = sns.requests[0] as URLSearchParams;
    expect(request.get('Action')).toBe('Publish');
    expect(request.get('TopicArn')).toBe(TOPIC_ARN);
    expect(request.get('MessageStructure')).toBe('json');
    expect(request.get('Subject')).toBe(notification.subject);
    expect(request.get('Subject')).toContain('Branch PA-440 Zürich');

    const message = messageOf(request);
    expect(Object.keys(message).sort()).toEqual(['default', 'email', 'https', 'sms']);
    // HTTPS subscribers (the chat service's own subscription, webhooks) get the chat form as JSON.
    const chat = ChatNotificationSchema.parse(JSON.parse(message.https ?? 'null'));
    expect(chat).toEqual(notification.chat);
    expect(chat.content.title).toBe(
      '🔴 CRITICAL: Firewall Integration Offline: firewall `Branch PA-440 Zürich`',
    );
    expect(chat.metadata?.threadId).toBe(`pullwatch-${issue.id}`);
    expect(message.email).toBe(notification.email);
    expect(message.default).toBe(notification.email);
    expect(message.sms).toBe(notification.sms);
    expect(message.email).toContain(issue.diagnosis.summary);
    expect(message.sms).toContain('Branch PA-440 Zürich');
    expect(message.sms?.length).toBeLessThanOrEqual(160);
    expect(isGsm7Basic(message.sms ?? '')).toBe(true);

    expect(messageAttributes(request)).toEqual({
      org_id: { type: 'String', value: issue.org_id },
      issue_type: { type: 'String', value: 'fw_integration_offline' },
      criticality: { type: 'String', value: 'critical' },
      event: { type: 'String', value: 'issue_opened' },
      // Applies to the topic's SMS subscriptions: Transactional, not the default Promotional.
      'AWS.SNS.SMS.SMSType': { type: 'String', value: 'Transactional' },
    });
  });

  it('publishes a storm digest as one message whose chat form lists its issues', async () => {
    const w = await world();
    const groups = [];
    for (let n = 0; n < 12; n += 1) {
      const issue = offlineIssueFor(await firewall(w, `fw-${n}`), at(30));
      if (!issue) throw new Error('expected an offline issue');
      groups.push([{ issue, event: 'issue_opened' as const }]);
    }
    const [only, ...rest] = renderDigest(w.orgId, groups, { now: at(30) });
    expect(rest).toEqual([]);

    await snsPublisher().publish(only?.notification as Notification);

    expect(sns.requests).toHaveLength(1);
    const message = messageOf(sns.requests[0] as URLSearchParams);
    const chat = ChatNotificationSchema.parse(JSON.parse(message.https ?? 'null'));
    expect(chat.metadata?.threadId).toBeUndefined();
    for (let n = 0; n < 12; n += 1) expect(chat.content.description).toContain(`\`fw-${n}\``);
    expect(message.email).toBe(only?.notification.email);
    expect(message.sms).toBe(only?.notification.sms);
  });

  it('sends the resolution with event issue_resolved', async () => {
    const issue = await offlineIssue('core-fw');
    const resolved: Issue = { ...issue, state: 'resolved', resolved_at: at(33), resolution: 'pull_resumed' };

    await snsPublisher().publish(renderNotification(resolved, 'issue_resolved', { now: at(33) }));

    const request = sns.requests[0] as URLSearchParams;
    expect(messageAttributes(request).event?.value).toBe('issue_resolved');
    expect(request.get('Subject')).toMatch(/RESOLVED/);
    expect(messageOf(request).sms).toContain('core-fw');
  });

  it.each([
    { what: 'HTTP 500 InternalError', status: 500, code: 'InternalError', type: 'Receiver', retryable: true },
    {
      what: 'HTTP 503 ServiceUnavailable',
      status: 503,
      code: 'ServiceUnavailable',
      type: 'Receiver',
      retryable: true,
    },
    { what: 'HTTP 400 Throttling', status: 400, code: 'Throttling', type: 'Sender', retryable: true },
    // Publish's error codes (SNS API reference, Publish "Errors"; the SDKs' PublishError lists the same): KMS
    // throttling passes if tried again, a disabled key does not. The wire code is KMSThrottling, the JS SDK's
    // error name KMSThrottlingException.
    {
      what: 'HTTP 400 KMSThrottlingException',
      status: 400,
      code: 'KMSThrottling',
      type: 'Sender',
      retryable: true,
    },
    { what: 'HTTP 400 KMSDisabled', status: 400, code: 'KMSDisabled', type: 'Sender', retryable: false },
    {
      what: 'HTTP 400 InvalidParameter',
      status: 400,
      code: 'InvalidParameter',
      type: 'Sender',
      retryable: false,
    },
    {
      what: 'HTTP 403 AuthorizationError',
      status: 403,
      code: 'AuthorizationError',
      type: 'Sender',
      retryable: false,
    },
    {
      what: 'HTTP 404 NotFound (no such topic)',
      status: 404,
      code: 'NotFound',
      type: 'Sender',
      retryable: false,
    },
  ])(
    'turns $what into a TransportError with retryable $retryable',
    async ({ status, code, type, retryable }) => {
      sns.reply = { status, body: snsError(code, `${code} from the test endpoint`, type) };
      const notification = renderNotification(await offlineIssue('fw'), 'issue_opened', { now: at(30) });

      const error = await snsPublisher()
        .publish(notification)
        .then(
          () => null,
          (thrown: unknown) => thrown,
        );

      expect(error).toBeInstanceOf(TransportError);
      expect((error as TransportError).retryable).toBe(retryable);
      expect((error as TransportError).message).toContain(code);
      expect(sns.requests).toHaveLength(1);
    },
  );

  it('turns an endpoint that cannot be reached into a retryable TransportError', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const publisher = new SnsPublisher(snsClient(`http://127.0.0.1:${port}`), TOPIC_ARN);
    const notification = renderNotification(await offlineIssue('fw'), 'issue_opened', { now: at(30) });

    const error = await publisher.publish(notification).then(
      () => null,
      (thrown: unknown) => thrown,
    );

    expect(error).toBeInstanceOf(TransportError);
    expect((error as TransportError).retryable).toBe(true);
  });
});

describe('a whole cycle publishing to SNS', () => {
  async function setup() {
    // The pipeline guard is off: these tests are about SNS delivery and jump hours ahead with no newer log
    // record (the guard itself is covered in pipeline-guard.test.ts).
    const w = await world({ staleAfterSeconds: 0 });
    const publisher = snsPublisher();
    return {
      w,
      cycle: (now: Iso) => cycle(w, now, { publisher }),
      dropPull: (integrationId: string, time: Iso) => drop(w, [pull(integrationId, time)]),
    };
  }

  it('publishes exactly one message per event: opened once, resolved once', async () => {
    const { w, cycle, dropPull } = await setup();
    const fw = await firewall(w, 'HQ Palo Alto');
    await dropPull(fw.id, at(1));
    await cycle(at(2));
    expect(sns.requests).toEqual([]);

    for (const hour of [26, 27, 30]) await cycle(at(hour));
    expect(sns.requests.map((request) => messageAttributes(request).event?.value)).toEqual(['issue_opened']);

    await dropPull(fw.id, at(31));
    for (const hour of [31.5, 32, 40]) await cycle(at(hour));

    const [opened, resolved] = await w.store.issues.list(w.orgId, { limit: 10 }).then((page) => page.items);
    expect(resolved).toBeUndefined();
    expect(sns.requests.map((request) => messageAttributes(request).event?.value)).toEqual([
      'issue_opened',
      'issue_resolved',
    ]);
    for (const request of sns.requests) {
      expect(request.get('TopicArn')).toBe(TOPIC_ARN);
      expect(messageAttributes(request).org_id?.value).toBe(w.orgId);
      expect(messageAttributes(request).issue_type?.value).toBe('fw_integration_offline');
      expect(request.get('Subject')).toContain('HQ Palo Alto');
    }
    expect(opened).toMatchObject({
      state: 'resolved',
      notified: { issue_opened: at(26), issue_resolved: at(31.5) },
    });
  });

  it('retries a publish the endpoint answered with 500 on the next cycle, and publishes it once', async () => {
    const { w, cycle } = await setup();
    await firewall(w, 'edge');
    sns.reply = { status: 500, body: snsError('InternalError', 'try again', 'Receiver') };

    const failed = await cycle(at(30));
    expect(failed.notify?.failed).toMatchObject([{ event: 'issue_opened', retryable: true }]);

    sns.reply = { status: 200, body: PUBLISH_OK };
    await cycle(at(30.1));
    await cycle(at(31));

    expect(sns.requests).toHaveLength(2);
    expect(sns.requests.map((request) => messageAttributes(request).event?.value)).toEqual([
      'issue_opened',
      'issue_opened',
    ]);
  });

  it('makes a publish SNS refuses for good visible: report field, deployment counts, retried only an hour later', async () => {
    const { w, cycle } = await setup();
    await firewall(w, 'edge');
    // A limit no message fits: the endpoint answers InvalidParameter, as SNS does for an oversize publish.
    sns.limitBytes = 100;

    const failed = await cycle(at(30));
    expect(failed.outcome).toBe('ok');
    expect(failed.notifications_failed_permanently).toBe(1);
    expect(failed.notify?.failed).toMatchObject([{ event: 'issue_opened', retryable: false }]);
    expect(sns.oversize).toHaveLength(1);
    expect((await w.store.deployment.get()).notifications).toEqual({
      failed_permanently: 1,
      last_cycle_failed_permanently: 1,
      last_failure_at: at(30),
    });

    // Not retried on the next pass with the same content: it waits an hour.
    await cycle(at(30.5));
    expect(sns.requests).toHaveLength(1);

    sns.limitBytes = 262_144;
    const retried = await cycle(at(31.1));
    expect(retried.notifications_failed_permanently).toBe(0);
    expect(sns.requests).toHaveLength(2);
    expect((await w.store.deployment.get()).notifications).toEqual({
      failed_permanently: 1,
      last_cycle_failed_permanently: 0,
      last_failure_at: at(30),
    });
  });
});
