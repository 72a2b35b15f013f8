/**
 * The knex connection: better-sqlite3 (embedded default) or pg.
 * Everything above this file is dialect-agnostic; the few places that need
 * dialect SQL ask `db.dialect`.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import knexFactory, { type Knex } from "knex";
import pg from "pg";
import { migrationSource } from "../../migrations/index.js";
import { sqlitePath, type Config } from "../config.js";
import { Lru } from "../util/lru.js";

// PostgreSQL returns BIGINT (int8) as strings, since they may exceed 2^53.
// Every bigint we store (timestamps, stream positions, depths) is a JS-safe
// integer by construction, so read them as numbers on both databases.
pg.types.setTypeParser(20, (v: string) => Number.parseInt(v, 10));

export interface Database {
  readonly knex: Knex;
  readonly dialect: "sqlite" | "postgres";
  close(): Promise<void>;
}

export function openDatabase(config: Config): Database {
  if (config.database.engine === "postgres") {
    const knex = knexFactory({
      client: "pg",
      connection: config.database.postgres_url,
      pool: { min: 0, max: config.database.postgres_pool_max },
    });
    return { knex, dialect: "postgres", close: () => knex.destroy() };
  }
  const filename = sqlitePath(config);
  mkdirSync(dirname(filename), { recursive: true });
  const synchronous = config.database.sqlite_synchronous.toUpperCase();
  const knex = knexFactory({
    client: "better-sqlite3",
    connection: { filename },
    useNullAsDefault: true,
    // One connection: SQLite has one writer anyway, and a single connection
    // makes knex queue transactions instead of failing with SQLITE_BUSY.
    pool: {
      min: 1,
      max: 1,
      afterCreate(conn: SqliteConnection, done: (err: Error | null, conn: unknown) => void) {
        cachePreparedStatements(conn);
        conn.pragma("journal_mode = WAL");
        conn.pragma(`synchronous = ${synchronous}`);
        conn.pragma("foreign_keys = ON");
        conn.pragma("busy_timeout = 5000");
        done(null, conn);
      },
    },
  });
  return { knex, dialect: "sqlite", close: () => knex.destroy() };
}

interface SqliteConnection {
  pragma(s: string): unknown;
  prepare(sql: string): unknown;
}

/** Statements kept prepared per connection; the hot paths use a few dozen distinct texts. */
const PREPARED_STATEMENTS = 500;

/**
 * knex asks better-sqlite3 to prepare every query's SQL afresh, which costs
 * as much as running a small query. The same texts recur (knex emits
 * placeholders, values are bound), so the connection keeps its prepared
 * statements, least recently used dropped first. A statement is reused
 * only after its previous run finished: better-sqlite3 runs synchronously.
 */
function cachePreparedStatements(conn: SqliteConnection): void {
  const prepare = conn.prepare.bind(conn);
  const cache = new Lru<string, unknown>(PREPARED_STATEMENTS);
  conn.prepare = (sql: string) => {
    let stmt = cache.get(sql);
    if (stmt === undefined) {
      stmt = prepare(sql);
      cache.set(sql, stmt);
    }
    return stmt;
  };
}

export async function migrate(db: Database): Promise<string[]> {
  const [, applied] = (await db.knex.migrate.latest({ migrationSource })) as [number, string[]];
  return applied;
}

/** Whether an insert failed on a primary key or unique constraint (SQLite or PostgreSQL). */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return code === "23505" || code === "SQLITE_CONSTRAINT_PRIMARYKEY" || code === "SQLITE_CONSTRAINT_UNIQUE";
}
