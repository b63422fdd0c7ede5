import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ApiKeys } from './auth/data.ts';
import { Deployment } from './deployment/index.ts';
import { History } from './history/index.ts';
import { Ledger } from './ingest/ledger.ts';
import { Integrations } from './integration/data.ts';
import { Issues } from './issue/data.ts';
import { Outbox } from './notify/outbox.ts';
import { Organizations } from './org/data.ts';
import { Outages } from './outage/data.ts';
import { PullDays } from './pulls/activity-data.ts';
import { Table } from './table/index.ts';

/**
 * Every domain's data module over one table: what the operations, the cycle and the API are given. Each module
 * owns its items; this only puts them side by side.
 */
export interface Store {
  table: Table;
  orgs: Organizations;
  keys: ApiKeys;
  integrations: Integrations;
  issues: Issues;
  outbox: Outbox;
  ledger: Ledger;
  deployment: Deployment;
  history: History;
  pullDays: PullDays;
  outages: Outages;
}

export function openStore(client: DynamoDBClient, tableName: string): Store {
  const table = new Table(client, tableName);
  return {
    table,
    orgs: new Organizations(table),
    keys: new ApiKeys(table),
    integrations: new Integrations(table),
    issues: new Issues(table),
    outbox: new Outbox(table),
    ledger: new Ledger(table),
    deployment: new Deployment(table),
    history: new History(table),
    pullDays: new PullDays(table),
    outages: new Outages(table),
  };
}
