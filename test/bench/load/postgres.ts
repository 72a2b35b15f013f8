/**
 * A private PostgreSQL 15 cluster for the bench (not the one others use):
 * initdb'd once under the cache directory (owned by the postgres user,
 * trust auth on 127.0.0.1, C locale as Synapse wants), started for the run
 * on its own port and stopped at the end. Seeded databases stay in it as
 * templates; each run works on a fresh CREATE DATABASE ... TEMPLATE copy.
 */
import { execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { onCleanup } from "./cleanup.js";

const BIN = "/usr/lib/postgresql/15/bin";

export interface Cluster {
  readonly port: number;
  url(db: string): string;
  query(sql: string): Promise<any[]>;
  exists(db: string): Promise<boolean>;
  clone(template: string, db: string): Promise<void>;
  drop(db: string): Promise<void>;
}

function asPostgres(args: string[]): string {
  return execFileSync("runuser", ["-u", "postgres", "--", ...args], { stdio: ["ignore", "pipe", "pipe"] }).toString();
}

export async function startCluster(dir: string, port: number, keep = false): Promise<Cluster & { shared: boolean }> {
  const data = join(dir, "data");
  const sock = join(dir, "sock");
  mkdirSync(sock, { recursive: true });
  const pgUid = Number(execFileSync("id", ["-u", "postgres"]).toString().trim());
  const pgGid = Number(execFileSync("id", ["-g", "postgres"]).toString().trim());
  chownSync(dir, pgUid, pgGid);
  chownSync(sock, pgUid, pgGid);
  if (!existsSync(join(data, "PG_VERSION"))) {
    asPostgres([join(BIN, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "--locale=C", "-E", "UTF8"]);
  }
  const opts = [
    `-p ${port}`, `-k ${sock}`, "-c listen_addresses=127.0.0.1", "-c max_connections=300",
    "-c shared_buffers=256MB", "-c max_wal_size=4GB", "-c log_min_messages=warning",
  ].join(" ");
  let running = false;
  try {
    asPostgres([join(BIN, "pg_ctl"), "-D", data, "status"]);
    running = true; // another bench run (with --keep-postgres) has it up: use it, leave it to that run
  } catch {
    asPostgres([join(BIN, "pg_ctl"), "-D", data, "-l", join(dir, "postgres.log"), "-o", opts, "-w", "-t", "60", "start"]);
  }
  if (!running && !keep) onCleanup("postgres", () => {
    try {
      asPostgres([join(BIN, "pg_ctl"), "-D", data, "-m", "fast", "-w", "-t", "60", "stop"]);
    } catch (err) {
      process.stderr.write(`pg_ctl stop: ${String(err)}\n`);
    }
  });
  const url = (db: string) => `postgres://postgres@127.0.0.1:${port}/${db}`;
  const query = async (sql: string) => {
    const c = new pg.Client({ connectionString: url("postgres") });
    await c.connect();
    try {
      return (await c.query(sql)).rows;
    } finally {
      await c.end();
    }
  };
  return {
    shared: running,
    port,
    url,
    query,
    exists: async (db) => (await query(`SELECT 1 FROM pg_database WHERE datname = '${db}'`)).length > 0,
    clone: async (template, db) => {
      await query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      await query(`CREATE DATABASE ${db} TEMPLATE ${template}`);
    },
    drop: async (db) => {
      await query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    },
  };
}
