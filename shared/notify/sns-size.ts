import { CHAT_LIMITS } from './chat.ts';
import type { Notification } from './notification.ts';

/**
 * SNS refuses a Publish larger than 256 KiB. The Publish API reference (Message, "Constraints"): "With the
 * exception of SMS, messages must be UTF-8 encoded strings and at most 256 KB in size (262,144 bytes, not
 * 262,144 characters)", and for `MessageStructure: json` "Values have a maximum length bounded by the overall
 * message size (so, including multiple protocols may limit message sizes)". And the MessageAttributeValue
 * reference (https://docs.aws.amazon.com/sns/latest/api/API_MessageAttributeValue.html): "All parts of the
 * message attribute, including name, type, and value, are included in the message size restriction, which is
 * currently 256 KB (262,144 bytes)". (Publish reference: https://docs.aws.amazon.com/sns/latest/api/API_Publish.html)
 * So the whole request is measured: the JSON message with every key, the subject and every attribute's
 * name, type and value, in UTF-8 bytes.
 */
export const SNS_PUBLISH_LIMIT_BYTES = 262_144;
/** Kept free below the limit, for anything SNS counts that we do not (envelope, rounding). */
export const SNS_SIZE_MARGIN_BYTES = 8 * 1024;
/** What one publish of ours may weigh. */
export const SNS_PUBLISH_BUDGET_BYTES = SNS_PUBLISH_LIMIT_BYTES - SNS_SIZE_MARGIN_BYTES;

/**
 * `AWS.SNS.SMS.SMSType` for the topic's SMS subscribers: Transactional ("critical messages ... SNS optimizes
 * message delivery to achieve the highest reliability") rather than the account default Promotional ("lowest
 * cost"), SNS developer guide, Setting SMS messaging preferences. Costs: docs/deploy-aws.md, section 5.
 */
export const SMS_TYPE = 'Transactional';

/**
 * The `Message` of a `MessageStructure: json` publish, one text per protocol: the email text for `email` and
 * `default`, the SMS text for `sms`, and the chat form as JSON for `https`.
 *
 * `https`: Amazon Q Developer in chat applications receives a topic's messages through a subscription of
 * protocol `https` that it makes itself, to `https://global.sns-api.chatbot.amazonaws.com`. No AWS page we could
 * reach states the protocol; the infrastructure code people publish that subscribes the service by hand uses
 * exactly that protocol and endpoint. So with a JSON message structure the service is handed the `https` value
 * (a protocol without its own key gets `default`); a plain-text `default` is not a custom notification, which
 * "must use the following event format" (custom-notifs.html), and would not be posted. Webhook receivers
 * subscribed over HTTPS get the same JSON. The Publish reference: "You can define other top-level keys that
 * define the message you want to send to a specific transport protocol (e.g., "http")".
 * (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html)
 */
export function snsMessageOf(notification: Pick<Notification, 'email' | 'sms' | 'chat'>): string {
  return JSON.stringify({
    default: notification.email,
    email: notification.email,
    sms: notification.sms,
    https: JSON.stringify(notification.chat),
  });
}

/** The message attributes sent with a publish: the filter attributes and the SMS type. */
export function snsAttributesOf(notification: Pick<Notification, 'attributes'>): Record<string, string> {
  return { ...notification.attributes, 'AWS.SNS.SMS.SMSType': SMS_TYPE };
}

const bytes = (text: string) => Buffer.byteLength(text, 'utf8');

/** The size SNS counts for a publish of `notification`, in bytes. */
export function publishBytes(
  notification: Pick<Notification, 'email' | 'sms' | 'chat' | 'subject' | 'attributes'>,
): number {
  let total = bytes(snsMessageOf(notification)) + bytes(notification.subject);
  for (const [name, value] of Object.entries(snsAttributesOf(notification)))
    total += bytes(name) + bytes('String') + bytes(value);
  return total;
}

/**
 * The most a chat form's description can add to a publish: CHAT_LIMITS.description UTF-16 units, each at most 4
 * bytes once JSON-escaped twice (the chat JSON is a string inside the message's JSON): `"` and `\` become 4
 * bytes, a line break 3 (`\\n`), other text at most 3 (UTF-8), half a surrogate pair 2. Control characters and
 * lone surrogates, which would take 7, never reach a description (oneLine and chatSafe replace them).
 */
export const CHAT_DESCRIPTION_MAX_BYTES = 4 * CHAT_LIMITS.description;

/** What one more line of email text adds to the publish: it is in the message twice, JSON-escaped. */
export function emailLineBytes(line: string): number {
  return 2 * (bytes(JSON.stringify(`${line}\n`)) - 2);
}

/** Cuts an email that would make the publish too large, saying so at the end. */
export function capEmail<T extends Pick<Notification, 'email' | 'sms' | 'chat' | 'subject' | 'attributes'>>(
  notification: T,
  budget = SNS_PUBLISH_BUDGET_BYTES,
): T {
  let size = publishBytes(notification);
  if (size <= budget) return notification;
  const note = '\n[... cut: this message was too long for SNS; see the console for the rest]\n';
  let email = notification.email;
  while (size > budget) {
    // Each character costs at least 2 bytes (it is there twice); cut at least the excess over that.
    const cut = Math.max(1, Math.ceil((size - budget) / 2));
    const chars = [...email.slice(0, Math.max(0, email.length - note.length - cut))];
    email = `${chars.join('')}${note}`;
    size = publishBytes({ ...notification, email });
    if (chars.length === 0) break;
  }
  return { ...notification, email };
}
