import type { ScheduledEvent } from 'aws-lambda';
import { type CycleReport, runCycle } from '../shared/cycle.ts';
import { withLambdaContext } from '../shared/logger.ts';
import { createPublisher, createSource, cycleSettings } from '../shared/runtime.ts';
import { config, store } from './context.ts';
import { scheduledRun } from './scheduled.ts';

const source = createSource(config);
const publisher = createPublisher(config);

/** What the invocation returns (and logs): counts only. */
function summary(report: CycleReport) {
  return {
    outcome: report.outcome,
    files_processed: report.ingest?.files_processed ?? 0,
    records: report.ingest?.records ?? 0,
    opened: report.rules?.opened.length ?? 0,
    resolved: report.rules?.resolved.length ?? 0,
    sent: report.notify?.sent.length ?? 0,
    failed_notifications: report.notify?.failed.length ?? 0,
    errors: report.errors,
  };
}

/**
 * Scheduled (EventBridge): one ingest, rules, notify cycle, unless the previous one still runs. The lease ends
 * when this invocation must have ended (its timeout), so a cycle stopped mid-way frees the lock by itself.
 */
export const handler = withLambdaContext((event: Pick<ScheduledEvent, 'id' | 'time'>, context) =>
  scheduledRun(
    'cycle',
    event,
    context,
    (now) => runCycle({ store, source, publisher, now, ...cycleSettings(config) }),
    summary,
    (report) => ({ samples: report.ingest?.samples ?? [] }),
  ),
);
