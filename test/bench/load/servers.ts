/**
 * The two homeservers under test, each its own OS process: ours as
 * `node dist/src/main.js start --config …`, Synapse as
 * `python -m synapse.app.homeserver -c …` from the venv. Both are named
 * bench.test, listen on 127.0.0.1 only, keep rate limits out of the way,
 * allow shared-secret registration and log errors/warnings to a file.
 * A server's directory (config, signing key, media, SQLite file) is made
 * once at seeding and copied for each run; only the port and database change.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { onCleanup } from "./cleanup.js";
import { sleep } from "./http.js";

export type ServerKind = "ours" | "synapse";
export const SERVER_NAME = "bench.test";

export interface DbChoice {
  engine: "postgres" | "sqlite";
  /** PostgreSQL: the URL parts. */
  pg?: { host: string; port: number; user: string; database: string };
}

export interface RunningServer {
  readonly kind: ServerKind;
  readonly pid: number;
  readonly url: string;
  readonly secret: string;
  readonly logPath: string;
  stop(): Promise<void>;
}

const repoRoot = resolve(fileURLToPath(import.meta.url), "../../../../..");

export function synapsePython(): string | undefined {
  const candidates = [process.env.SYNAPSE_PYTHON, join(repoRoot, ".ci", "synapse-venv", "bin", "python"), "/work/main/.ci/synapse-venv/bin/python"];
  return candidates.find((p): p is string => !!p && existsSync(p));
}

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a ? a.port : 0;
      s.close(() => res(port));
    });
  });
}

/** The directory's stable secret (registration shared secret; Synapse's other secrets derive from it). */
function secretOf(dir: string): string {
  const f = join(dir, "bench-secret");
  if (!existsSync(f)) writeFileSync(f, randomBytes(24).toString("hex"));
  return readFileSync(f, "utf8").trim();
}

function writeOursConfig(dir: string, port: number, db: DbChoice): string {
  const secret = secretOf(dir);
  const lines = [
    `server_name: ${SERVER_NAME}`,
    `data_dir: ${dir}`,
    "bind_address: 127.0.0.1",
    `port: ${port}`,
    "log_level: error",
    "registration:",
    "  enabled: false",
    `  shared_secret: "${secret}"`,
    "rate_limits:",
    "  message: {per_second: 0, burst: 1}",
    "  login: {per_second: 0, burst: 1}",
    "  registration: {per_second: 0, burst: 1}",
    "federation:",
    "  enabled: false",
    "database:",
  ];
  if (db.engine === "postgres" && db.pg) {
    lines.push("  engine: postgres", `  postgres_url: postgres://${db.pg.user}@${db.pg.host}:${db.pg.port}/${db.pg.database}`);
  } else {
    lines.push("  engine: sqlite");
  }
  const path = join(dir, "homeserver.yaml");
  writeFileSync(path, lines.join("\n") + "\n");
  return path;
}

function writeSynapseConfig(dir: string, port: number, db: DbChoice): string {
  const secret = secretOf(dir);
  const logPath = join(dir, "homeserver.log");
  writeFileSync(join(dir, "log.yaml"), [
    "version: 1",
    "formatters: {precise: {format: '%(asctime)s %(name)s %(levelname)s %(message)s'}}",
    `handlers: {file: {class: logging.FileHandler, formatter: precise, filename: '${logPath}'}}`,
    "root: {level: WARNING, handlers: [file]}",
    "disable_existing_loggers: false",
  ].join("\n") + "\n");
  const big = "{per_second: 100000, burst_count: 100000}";
  const database = db.engine === "postgres" && db.pg
    ? `database: {name: psycopg2, args: {user: ${db.pg.user}, host: ${db.pg.host}, port: ${db.pg.port}, database: ${db.pg.database}, cp_min: 5, cp_max: 10}}`
    : `database: {name: sqlite3, args: {database: ${join(dir, "homeserver.db")}}}`;
  const lines = [
    `server_name: "${SERVER_NAME}"`,
    `pid_file: ${join(dir, "homeserver.pid")}`,
    "listeners:",
    `  - {port: ${port}, bind_addresses: ['127.0.0.1'], type: http, tls: false, x_forwarded: false, resources: [{names: [client], compress: false}]}`,
    database,
    `log_config: ${join(dir, "log.yaml")}`,
    `media_store_path: ${join(dir, "media")}`,
    `signing_key_path: ${join(dir, "signing.key")}`,
    `registration_shared_secret: "${secret}"`,
    `macaroon_secret_key: "${secret}-macaroon"`,
    `form_secret: "${secret}-form"`,
    "report_stats: false",
    "enable_metrics: false",
    "trusted_key_servers: []",
    "suppress_key_server_warning: true",
    "federation_domain_whitelist: []",
    "bcrypt_rounds: 4",
    // Presence as shipped (enabled); rate limits out of the way.
    "presence: {enabled: true}",
    `rc_message: ${big}`,
    `rc_registration: ${big}`,
    `rc_registration_token_validity: ${big}`,
    `rc_login: {address: ${big}, account: ${big}, failed_attempts: ${big}}`,
    `rc_joins: {local: ${big}, remote: ${big}}`,
    `rc_joins_per_room: ${big}`,
    `rc_invites: {per_room: ${big}, per_user: ${big}, per_issuer: ${big}}`,
    `rc_3pid_validation: ${big}`,
    `rc_admin_redaction: ${big}`,
    `rc_presence: {per_user: ${big}}`,
    `rc_room_creation: ${big}`,
    `rc_reports: ${big}`,
    `rc_delayed_event_mgmt: ${big}`,
  ];
  const path = join(dir, "homeserver.yaml");
  writeFileSync(path, lines.join("\n") + "\n");
  return path;
}

/** Starts a server on dir (making its config), waits until /versions answers. */
export async function startServer(kind: ServerKind, dir: string, db: DbChoice): Promise<RunningServer> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const outPath = join(dir, kind === "ours" ? "server.log" : "stdio.log");
  const out = createWriteStream(outPath, { flags: "a" });
  let proc: ChildProcess;
  if (kind === "ours") {
    const config = writeOursConfig(dir, port, db);
    const main = join(repoRoot, "dist", "src", "main.js");
    // BENCH_NODE_ARGS: node options for our server only, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" or "--heapsnapshot-signal=SIGUSR2".
    const nodeArgs = (process.env.BENCH_NODE_ARGS ?? "").split(/\s+/).filter(Boolean);
    proc = spawn(process.execPath, [...nodeArgs, main, "start", "--config", config], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  } else {
    const python = synapsePython();
    if (!python) throw new Error("no Synapse: set SYNAPSE_PYTHON or make /work/main/.ci/synapse-venv (pip install 'matrix-synapse[postgres]')");
    const config = writeSynapseConfig(dir, port, db);
    if (!existsSync(join(dir, "signing.key"))) {
      const gen = spawn(python, ["-m", "synapse.app.homeserver", "-c", config, "--generate-keys"], { cwd: dir, stdio: "ignore" });
      await new Promise((r) => gen.once("exit", r));
    }
    proc = spawn(python, ["-m", "synapse.app.homeserver", "-c", config], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  }
  proc.stdout?.pipe(out);
  proc.stderr?.pipe(out);
  const pid = proc.pid!;
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      await Promise.race([exited, sleep(15_000)]);
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGKILL");
        await Promise.race([exited, sleep(5_000)]);
      }
    }
    out.end();
  };
  const undo = onCleanup(`${kind} server ${pid}`, stop);
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (proc.exitCode !== null) {
      await undo();
      throw new Error(`${kind} server exited (${proc.exitCode}) during start; see ${outPath}${kind === "synapse" ? ` and ${join(dir, "homeserver.log")}` : ""}`);
    }
    try {
      const r = await fetch(`${url}/_matrix/client/versions`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await undo();
      throw new Error(`${kind} server did not answer in 180 s; see ${outPath}`);
    }
    await sleep(250);
  }
  return { kind, pid, url, secret: secretOf(dir), logPath: kind === "ours" ? outPath : join(dir, "homeserver.log"), stop: undo };
}
