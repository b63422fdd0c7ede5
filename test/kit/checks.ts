import { isAcceptedOutcome, verifyPresented } from '../../shared/auth/verify.ts';
import { type Integration, offlineIssueType } from '../../shared/integration/index.ts';
import { type IntegrationIssue, issueFor } from '../../shared/issue/index.ts';
import { gsm7Septets } from '../../shared/notify/gsm7.ts';
import type { Iso } from '../../shared/time.ts';

/** Small checks the tests share, built on the product's own functions (none of them is product code). */

/** Whether a device presenting these basic-auth credentials at `now` would be let in (verify.ts decides). */
export function acceptsBasic(
  secret: string,
  integration: Integration,
  username: string,
  password: string,
  now: Iso,
): boolean {
  return isAcceptedOutcome(verifyPresented(secret, integration, { form: 'basic', username, password }, now));
}

/** The offline issue the facts call for at `now`, or null. */
export const offlineIssueFor = (integration: Integration, now: Iso): IntegrationIssue | null =>
  issueFor(integration, offlineIssueType(integration.kind), now);

/** Whether every character of `text` is in GSM 03.38's basic set (one septet each). */
export const isGsm7Basic = (text: string): boolean => gsm7Septets(text) === [...text].length;
