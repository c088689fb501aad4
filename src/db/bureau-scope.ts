// Which bureau a row belongs to, said once. Rows written before several bureaus carry no bureau
// code (batches: migrations/005; reports and stock levels: migrations/006), and the first bureau's
// stock levels still carry none: all of them are the first bureau's (docs/bureaus.md).
import type { Knex } from 'knex';

/** One bureau, as queries and rows see it. */
export interface BureauScope {
  code: string;
  /** the first bureau of the config: also owns the rows without a bureau code */
  first: boolean;
}

/** Narrows a query on a table with a bureau code (`column`) to one bureau's rows; every bureau's without a scope. */
export function whereBureau<Q extends Knex.QueryBuilder>(query: Q, scope: BureauScope | undefined, column = 'bureau_code'): Q {
  if (!scope) return query;
  return query.where((q) => {
    q.where(column, scope.code);
    if (scope.first) q.orWhereNull(column);
  }) as Q;
}

/** Whether a row with bureau code `code` is `scope`'s. */
export function isBureausRow(code: string | null | undefined, scope: BureauScope): boolean {
  return code == null ? scope.first : code === scope.code;
}

/** The code of the bureau a row belongs to, to show or count it: its own, or `firstBureau` for a row without one. */
export function rowBureau<F extends string | null>(code: string | null | undefined, firstBureau: F): string | F {
  return code ?? firstBureau;
}
