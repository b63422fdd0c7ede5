import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { finished } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createApp } from '../shared/api/app.ts';
import { runCycle } from '../shared/cycle.ts';
import { FILE_LEASE_SECONDS, type IngestReport } from '../shared/ingest/index.ts';
import type { LogSource } from '../shared/ingest/sources.ts';
import type { Integration } from '../shared/integration/index.ts';
import { FilePublisher } from '../shared/notify/publishers.ts';
import { addSeconds } from '../shared/time.ts';
import { integrationWrites, TEST_SECRET, useTestDb } from './kit/db.ts';
import { put, tempDir, useTempDirs } from './kit/files.ts';
import { collectGarbage, NOW, pullFacts, run, UNKNOWN_ID } from './kit/ingest.ts';
import { apiGatewayLine, combinedLine, lines, pull, pullRecord } from './kit/lines.ts';
import { at, T0 } from './kit/time.ts';
import { addIntegration, current, SETTINGS, world } from './kit/world.ts';

/** Files: read exactly once, late, unreadable, malformed, huge; bounded memory. */

useTestDb();
useTempDirs();

// ---- 3. files: exactly once, late, unreadable, malformed, huge ---------------------------------------

describe('files', () => {
  it('processes each file once across runs', async () => {
    const w = await world();
    const fw = await addIntegration(w, { name: 'Edge' });
    await put(w, 'a.jsonl', lines(pull(fw.id, at(8))));
    await put(w, 'b.log', lines(combinedLine(pullRecord(fw.id, at(9)))));

    const first = await run(w, NOW);
    const writes = integrationWrites(w.store);
    const afterFirst = await current(w, fw);
    const second = await run(w, at(13));
    const third = await run(w, at(14));

    expect(first).toMatchObject({ files_seen: 2, files_processed: 2, files_skipped: 0, records: 2 });
    for (const again of [second, third]) {
      expect(again).toMatchObject({
        files_seen: 2,
        files_processed: 0,
        files_skipped: 2,
        records: 0,
        lines: 0,
      });
    }
    expect(integrationWrites(w.store)).toBe(writes);
    expect(await current(w, fw)).toEqual(afterFirst);
    expect(afterFirst.last_pull_at).toBe(at(9));
  });

  it('still processes a file that arrives hours late with an older name and modification time', async () => {
    const w = await world();
    const fw = await addIntegration(w, { name: 'Edge' });
    const rc = await addIntegration(w, { name: 'Bouncer', kind: 'remediation_component' });
    await put(w, 'pulls-2026-11-20T10.jsonl', lines(pull(fw.id, at(10))), at(10.1));
    await run(w, at(11));

    await put(
      w,
      'pulls-2026-11-20T02.jsonl',
      lines(pull(fw.id, at(2)), pull(rc.id, at(2.5)), pull(fw.id, at(2.75), { status: 401 })),
      at(2.9),
    );
    const late = await run(w, at(17));

    expect(late).toMatchObject({ files_processed: 1, records: 3 });
    expect((await current(w, rc)).last_pull_at).toBe(at(2.5));
    // Older than what is known: never moves anything back.
    expect(pullFacts(await current(w, fw))).toMatchObject({
      last_pull_at: at(10),
      last_attempt_at: at(10),
      last_attempt_status: 200,
      rejections: [],
    });
  });

  it("takes over a crashed run's file once its lease has run out", async () => {
    const w = await world();
    const fw = await addIntegration(w, { name: 'Edge' });
    await put(w, 'a.jsonl', lines(pull(fw.id, at(8))));
    const [file] = await w.source.list();
    if (!file) throw new Error('no file listed');
    // A run claimed the file at NOW and died before finishing it.
    expect(
      await w.store.ledger.claim(file.key, 'crashed-run', NOW, addSeconds(NOW, FILE_LEASE_SECONDS)),
    ).toBe(true);

    const during = await run(w, addSeconds(NOW, FILE_LEASE_SECONDS - 60));
    expect(during).toMatchObject({ files_processed: 0, files_skipped: 1 });
    expect((await current(w, fw)).last_pull_at).toBeNull();

    const after = await run(w, addSeconds(NOW, FILE_LEASE_SECONDS + 60));
    expect(after).toMatchObject({ files_processed: 1, files_skipped: 0 });
    expect((await current(w, fw)).last_pull_at).toBe(at(8));
  });

  it('reports an unreadable .gz, retries it next run, sets it aside after 3 runs, and never blocks good files', async () => {
    const w = await world();
    const fw = await addIntegration(w, { name: 'Edge' });
    const victim = await addIntegration(w, { name: 'Victim' });
    await put(w, 'garbage.jsonl.gz', Buffer.from('this was never gzip\n'));
    // A real gzip cut short: its first records decompress, then the stream fails. The file teaches nothing.
    const full = gzipSync(
      lines(...Array.from({ length: 50 }, (_, i) => pull(victim.id, addSeconds(at(5), i)))),
    );
    await put(w, 'truncated.jsonl.gz', full.subarray(0, full.length - 12));
    const bad = ['garbage.jsonl.gz', 'truncated.jsonl.gz'];
    const failedNames = (report: IngestReport, key: 'files_failed' | 'files_set_aside') =>
      report[key].map((entry) => entry.name).sort();

    const reports: IngestReport[] = [];
    for (let runIndex = 1; runIndex <= 4; runIndex += 1) {
      await put(w, `good-${runIndex}.jsonl`, lines(pull(fw.id, at(runIndex))));
      reports.push(await run(w, at(10 + runIndex)));
    }
    const [r1, r2, r3, r4] = reports as [IngestReport, IngestReport, IngestReport, IngestReport];

    for (const report of [r1, r2]) {
      expect(failedNames(report, 'files_failed')).toEqual(bad);
      expect(report.files_set_aside).toEqual([]);
      expect(report.files_processed).toBe(1);
      for (const failure of report.files_failed) expect(failure.error).toMatch(/\S/);
    }
    expect(r3.files_failed).toEqual([]);
    expect(failedNames(r3, 'files_set_aside')).toEqual(bad);
    expect(r3.files_set_aside.find((entry) => entry.name === 'garbage.jsonl.gz')?.error).toMatch(/header/i);
    expect(r3.files_processed).toBe(1);
    // Set aside: not tried again.
    expect(r4).toMatchObject({ files_failed: [], files_set_aside: [], files_processed: 1, files_skipped: 5 });

    expect((await current(w, fw)).last_pull_at).toBe(at(4));
    expect((await current(w, victim)).last_pull_at).toBeNull();
  });

  it('counts malformed lines per reason, with samples (file, line, text cut to 200 chars) in the cycle report', async () => {
    const w = await world();
    const fw = await addIntegration(w, { name: 'Edge' });
    const longGarbage = `GARBAGE ${'x'.repeat(500)}`;
    await put(
      w,
      'noisy.log',
      lines(
        pull(fw.id, at(8)),
        longGarbage,
        '\u0000\u0001binary\u00ff\u00fe junk',
        JSON.stringify({ time: 'yesterday', integration_id: fw.id, status: 200 }),
        JSON.stringify({ time: at(8), integration_id: fw.id, status: 'ok' }),
        '{"time":"2026-11-20T08:00:00Z","integration_id":',
        pull(UNKNOWN_ID, at(8)),
      ),
    );
    await put(w, 'other.log', lines('hello', pull(fw.id, at(9))));
    const dir = await tempDir('outbox');

    const cycle = await runCycle({
      store: w.store,
      source: w.source,
      publisher: new FilePublisher(join(dir, 'outbox.jsonl'), () => {}),
      now: NOW,
      ...SETTINGS,
    });

    expect(cycle.errors).toEqual([]);
    expect(cycle.ingest?.skipped).toEqual({
      unrecognized: 3,
      bad_time: 1,
      bad_status: 1,
      not_json: 1,
      unknown_integration: 1,
    });
    expect(cycle.ingest?.samples).toEqual([
      { file: 'noisy.log', line: 2, reason: 'unrecognized', text: longGarbage.slice(0, 200) },
      { file: 'noisy.log', line: 3, reason: 'unrecognized', text: '??binary?? junk' },
      {
        file: 'noisy.log',
        line: 4,
        reason: 'bad_time',
        text: JSON.stringify({ time: 'yesterday', integration_id: fw.id, status: 200 }),
      },
      { file: 'other.log', line: 1, reason: 'unrecognized', text: 'hello' },
      // Unknown ids come after the lines that failed to parse (they are known only once the store is asked).
      { file: 'noisy.log', line: 7, reason: 'unknown_integration', text: pull(UNKNOWN_ID, at(8)) },
    ]);
    expect(cycle.ingest).toMatchObject({ lines: 9, records: 3 });
    expect((await current(w, fw)).last_pull_at).toBe(at(9));
  });

  async function healthAfterNoisyIngest() {
    const w = await world();
    const fw = await addIntegration(w, { name: 'Edge FortiGate of Acme' });
    await put(
      w,
      'acme-noisy.log',
      lines(
        pull(fw.id, at(8)),
        `secret tenant line for ${fw.id} in ${w.orgId}`,
        JSON.stringify({ time: 'yesterday', integration_id: fw.id, status: 200 }),
        pull(UNKNOWN_ID, at(8)),
      ),
    );
    await put(w, 'broken.log.gz', Buffer.from('not gzip'));
    const report = await run(w, NOW);
    const app = createApp({
      store: w.store,
      secret: TEST_SECRET,
      now: () => at(12.5),
      staleAfterSeconds: 7200,
    });
    const response = await app.request('/v1/health');
    const text = await response.text();
    return { w, fw, report, response, text };
  }

  it('shows the last ingest in GET /v1/health as counts, with no tenant data', async () => {
    const { w, fw, response, text } = await healthAfterNoisyIngest();

    expect(response.status).toBe(200);
    const body = JSON.parse(text) as { last_ingest: Record<string, unknown> };
    expect(body.last_ingest).toMatchObject({
      at: NOW,
      files_failed: 1,
      files_set_aside: 0,
      lines: 4,
      records: 2,
      skipped: { unrecognized: 1, bad_time: 1, unknown_integration: 1 },
    });
    for (const tenantData of [
      fw.id,
      w.orgId,
      UNKNOWN_ID,
      'acme',
      'Acme',
      'secret tenant line',
      'yesterday',
      'broken.log',
    ]) {
      expect(text).not.toContain(tenantData);
    }
  });

  it('counts in GET /v1/health the files the last ingest processed', async () => {
    const { report, text } = await healthAfterNoisyIngest();

    expect(report.files_processed).toBe(1);
    const body = JSON.parse(text) as { last_ingest: { files_processed: number } };
    expect(body.last_ingest.files_processed).toBe(report.files_processed);
  });

  it('counts a 2 MB single line, and a 1 MB line in the middle of a file, as too_long; the other lines count', async () => {
    const w = await world();
    const fw = await addIntegration(w, { name: 'Edge' });
    const rc = await addIntegration(w, { name: 'Bouncer', kind: 'remediation_component' });
    // A valid-looking record with a 2 MB user agent, and no final newline.
    await put(w, 'one-huge-line.jsonl', pull(rc.id, at(9), { user_agent: 'A'.repeat(2 * 1024 * 1024) }));
    await put(
      w,
      'middle.log',
      lines(
        pull(fw.id, at(7)),
        combinedLine(pullRecord(fw.id, at(7.5))),
        `${'{"junk":"'}${'z'.repeat(1024 * 1024)}"}`,
        pull(fw.id, at(8)),
        apiGatewayLine(pullRecord(fw.id, at(8.5))),
      ),
    );

    const report = await run(w, NOW);

    expect(report).toMatchObject({ files_processed: 2, files_failed: [], lines: 6, records: 4 });
    expect(report.skipped).toEqual({ too_long: 2 });
    expect(
      report.samples
        .map(({ file, line, reason }) => ({ file, line, reason }))
        .sort((a, b) => a.file.localeCompare(b.file)),
    ).toEqual([
      { file: 'middle.log', line: 3, reason: 'too_long' },
      { file: 'one-huge-line.jsonl', line: 1, reason: 'too_long' },
    ]);
    for (const sample of report.samples) expect(sample.text.length).toBeLessThanOrEqual(200);
    expect((await current(w, fw)).last_pull_at).toBe(at(8.5));
    expect((await current(w, rc)).last_pull_at).toBeNull();
  });

  it('streams a ~50 MB file of canonical lines with bounded memory', async () => {
    const w = await world();
    const integrations = [
      await addIntegration(w, { name: 'A' }),
      await addIntegration(w, { name: 'B' }),
      await addIntegration(w, { name: 'C' }),
    ];
    const LINES = 200_000;
    const path = join(w.logs, 'big.jsonl');
    const out = createWriteStream(path);
    const padding = 'p'.repeat(70);
    let bytes = 0;
    for (let start = 0; start < LINES; start += 5000) {
      const chunk: string[] = [];
      for (let i = start; i < start + 5000; i += 1) {
        const integration = integrations[i % 3] as Integration;
        const time = new Date(Date.parse(T0) + i * 10).toISOString();
        chunk.push(pull(integration.id, time, { user_agent: `FortiGate/7.4.3 (${padding} ${i})` }));
      }
      const text = `${chunk.join('\n')}\n`;
      bytes += Buffer.byteLength(text);
      if (!out.write(text)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
    }
    out.end();
    await finished(out);
    expect(bytes).toBeGreaterThan(45 * 1024 * 1024);

    // What the ingest holds, not what it has thrown away: collect garbage before each sample. Samples are
    // taken as the ingest pulls the file's bytes, once per MB, so they cover the whole read.
    const gc = collectGarbage();
    const used = () => {
      gc();
      const memory = process.memoryUsage();
      return memory.heapUsed + memory.arrayBuffers;
    };
    const baseline = used();
    let peak = baseline;
    let samples = 0;
    const observed: LogSource = {
      describe: () => w.source.describe(),
      list: async () =>
        (await w.source.list()).map((file) => ({
          ...file,
          open: async () => {
            let seen = 0;
            let nextSample = 0;
            const probe = new Transform({
              transform(chunk: Buffer, _encoding, done) {
                seen += chunk.length;
                if (seen >= nextSample) {
                  peak = Math.max(peak, used());
                  samples += 1;
                  nextSample += 1024 * 1024;
                }
                done(null, chunk);
              },
            });
            return (await file.open()).pipe(probe);
          },
        })),
    };

    const report = await run(w, NOW, observed);
    peak = Math.max(peak, used());

    expect(samples).toBeGreaterThan(40);
    expect(report).toMatchObject({ files_processed: 1, lines: LINES, records: LINES, skipped: {} });
    for (const [index, integration] of integrations.entries()) {
      const lastIndex = LINES - 1 - ((LINES - 1 - index) % 3);
      expect((await current(w, integration)).last_pull_at).toBe(
        new Date(Date.parse(T0) + lastIndex * 10).toISOString(),
      );
    }
    // Loading the file whole would hold at least its size at some sample; streaming holds a few lines.
    expect(peak - baseline).toBeLessThan(bytes / 8);
  });
});
