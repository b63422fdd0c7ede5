import type { Criticality, Issue, NotificationEvent } from '../issue/index.ts';
import type { ChatNotification } from './chat.ts';

/** One message about one issue event, in every form a subscriber may receive it. */
export interface Notification {
  event: NotificationEvent | 'issue_digest';
  org_id: string;
  /** null for a digest, which covers several issues. */
  issue_id: string | null;
  issue_type: Issue['type'] | 'digest';
  criticality: Criticality;
  subject: string;
  email: string;
  sms: string;
  /** The chat form (Amazon Q Developer in chat applications custom notification, chat.ts); also what webhooks get. */
  chat: ChatNotification;
  /** SNS message attributes, so subscriptions can filter (e.g. SMS only for critical). */
  attributes: { org_id: string; issue_type: string; criticality: string; event: string };
}
