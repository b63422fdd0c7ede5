import { omit, type Row, type Table } from '../table/index.ts';
import { orgPartition } from '../table/keys.ts';
import type { Iso } from '../time.ts';

export interface Organization {
  id: string;
  name: string;
  created_at: Iso;
}

const DEFAULT_ORG_KEY = { pk: 'DEPLOYMENT', sk: 'DEFAULT_ORG' };
const toOrganization = (row: Row) => omit(row, ['pk', 'sk', 'entity']) as unknown as Organization;

/** Organizations, and the one a first local start creates. */
export class Organizations {
  constructor(private readonly table: Table) {}

  async create(org: Organization): Promise<void> {
    await this.table.put({
      Item: { pk: orgPartition(org.id), sk: 'ORG', entity: 'org', ...org },
      ConditionExpression: 'attribute_not_exists(pk)',
    });
  }

  async get(orgId: string): Promise<Organization | null> {
    const row = await this.table.get({ pk: orgPartition(orgId), sk: 'ORG' });
    return row ? toOrganization(row) : null;
  }

  /** The organization made on the first local start, if any. */
  async defaultOrg(): Promise<string | null> {
    const row = await this.table.get(DEFAULT_ORG_KEY, true);
    return typeof row?.org_id === 'string' ? row.org_id : null;
  }

  /** Records the default organization once; false if another process recorded one first. */
  async setDefaultOrg(orgId: string, at: Iso): Promise<boolean> {
    return this.table.conditionally(
      this.table.put({
        Item: { ...DEFAULT_ORG_KEY, org_id: orgId, created_at: at },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }
}
