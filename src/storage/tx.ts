/**
 * A database transaction with after-commit callbacks. Caches are only
 * updated from these callbacks, so a rollback never leaves the cache
 * holding rows the database does not.
 */
import type { Knex } from "knex";
import type { Database } from "./database.js";

export interface TxContext {
  readonly trx: Knex.Transaction;
  afterCommit(fn: () => void): void;
  /** Runs once the transaction has ended, committed or not (releasing a stream position, say). */
  finally(fn: () => void): void;
}

export async function inTransaction<T>(db: Database, work: (ctx: TxContext) => Promise<T>): Promise<T> {
  const callbacks: Array<() => void> = [];
  const settled: Array<() => void> = [];
  let result: T;
  try {
    result = await db.knex.transaction(async (trx) =>
      work({ trx, afterCommit: (fn) => void callbacks.push(fn), finally: (fn) => void settled.push(fn) }),
    );
  } finally {
    for (const fn of settled) fn();
  }
  for (const fn of callbacks) fn();
  return result;
}
