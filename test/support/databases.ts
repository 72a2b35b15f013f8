/**
 * Runs a database test on every engine: SQLite in a temporary directory,
 * and PostgreSQL in a fresh database of its own when TEST_POSTGRES_URL names
 * a server (CI sets it, and TEST_REQUIRE_POSTGRES makes its absence a failure).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { loadConfig, type Config } from "../../src/config.js";

export type Engine = "sqlite" | "postgres";

export interface TestDatabase {
  readonly engine: Engine;
  /** A config for a server on this database, in its own data directory. */
  config(overrides?: Record<string, unknown>): Config;
  dispose(): Promise<void>;
}

export const ENGINES: Engine[] = ["sqlite", "postgres"];

/** Why PostgreSQL tests cannot run here, or undefined when they can. */
export function postgresUnavailable(): string | undefined {
  if (process.env.TEST_POSTGRES_URL) return undefined;
  if (process.env.TEST_REQUIRE_POSTGRES) throw new Error("TEST_REQUIRE_POSTGRES is set but TEST_POSTGRES_URL is not");
  return "set TEST_POSTGRES_URL=postgres://user@host:port/db to run the PostgreSQL variant";
}

export async function createTestDatabase(engine: Engine): Promise<TestDatabase> {
  const dataDir = mkdtempSync(join(tmpdir(), "pimatrix-test-"));
  // Rate limits off: tests register and send in bursts. The rate-limit test turns them on.
  const off = { per_second: 0, burst: 1 };
  const base = { data_dir: dataDir, port: 0, log_level: "warn", rate_limits: { message: off, login: off, registration: off } };
  if (engine === "sqlite") {
    return {
      engine,
      config: (o = {}) => loadConfig({ env: {}, overrides: { ...base, ...o } }),
      dispose: async () => rmSync(dataDir, { recursive: true, force: true }),
    };
  }
  const adminUrl = process.env.TEST_POSTGRES_URL as string;
  const name = `pimatrix_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    engine,
    config: (o = {}) =>
      loadConfig({
        env: {},
        // A small pool: a test run starts many servers against one PostgreSQL.
        overrides: { ...base, ...o, database: { engine: "postgres", postgres_url: url.toString(), postgres_pool_max: 4, ...(o.database as object) } },
      }),
    dispose: async () => {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
