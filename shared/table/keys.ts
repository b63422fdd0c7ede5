/** Key conventions shared by the data modules (the layout is documented in `schema.ts`). */
export const orgPartition = (orgId: string) => `ORG#${orgId}`;
