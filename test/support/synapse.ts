/**
 * A real Synapse as a federation peer for interop tests: started from a
 * Python environment with matrix-synapse installed (SYNAPSE_PYTHON, or
 * .ci/synapse-venv which .ci/run makes), named localhost:<port>, serving
 * federation over TLS with a certificate from our test CA and trusting
 * that CA for its own outbound requests, plus a plain client listener.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatSigningKeyFile, generateSigningKey } from "../../src/crypto/keys.js";
import { testHttp, type TestHttp } from "./http.js";
import { packageRoot } from "./spec.js";
import { freePort, issueCert, type TestCa } from "./tls.js";

export interface SynapseServer {
  readonly name: string;
  readonly clientUrl: string;
  readonly http: TestHttp;
  readonly logPath: string;
  stop(): Promise<void>;
}

/** The Python that has Synapse, or undefined. */
export function synapsePython(): string | undefined {
  const candidates = [process.env.SYNAPSE_PYTHON, join(packageRoot(), ".ci", "synapse-venv", "bin", "python")];
  return candidates.find((p): p is string => p !== undefined && p !== "" && existsSync(p));
}

/** Why Synapse tests cannot run here, or undefined when they can. */
export function synapseUnavailable(): string | undefined {
  if (synapsePython()) return undefined;
  if (process.env.TEST_REQUIRE_SYNAPSE) throw new Error("TEST_REQUIRE_SYNAPSE is set but no Synapse was found (SYNAPSE_PYTHON or .ci/synapse-venv)");
  return "no Synapse: set SYNAPSE_PYTHON to a python with matrix-synapse installed (.ci/run makes .ci/synapse-venv)";
}

export async function startSynapse(ca: TestCa): Promise<SynapseServer> {
  const python = synapsePython();
  if (!python) throw new Error("no Synapse available");
  const dir = mkdtempSync(join(tmpdir(), "synapse-"));
  const fedPort = await freePort();
  const clientPort = await freePort();
  const name = `localhost:${fedPort}`;
  const cert = issueCert(ca, ["localhost", "127.0.0.1"]);
  const logPath = join(dir, "homeserver.log");
  writeFileSync(join(dir, "signing.key"), formatSigningKeyFile(generateSigningKey()));
  writeFileSync(join(dir, "log.yaml"), [
    "version: 1",
    "formatters: {precise: {format: '%(asctime)s %(name)s %(levelname)s %(message)s'}}",
    `handlers: {file: {class: logging.FileHandler, formatter: precise, filename: '${logPath}'}}`,
    "root: {level: INFO, handlers: [file]}",
    "disable_existing_loggers: false",
  ].join("\n"));
  const unlimited = "{per_second: 10000, burst_count: 10000}";
  const secret = () => randomBytes(16).toString("hex");
  writeFileSync(join(dir, "homeserver.yaml"), [
    `server_name: "${name}"`,
    `pid_file: ${join(dir, "homeserver.pid")}`,
    "listeners:",
    `  - {port: ${fedPort}, bind_addresses: ['127.0.0.1'], type: http, tls: true, resources: [{names: [federation, client], compress: false}]}`,
    `  - {port: ${clientPort}, bind_addresses: ['127.0.0.1'], type: http, tls: false, resources: [{names: [client], compress: false}]}`,
    `tls_certificate_path: ${cert.certPath}`,
    `tls_private_key_path: ${cert.keyPath}`,
    `federation_custom_ca_list: [${ca.certPath}]`,
    // Loopback peers are what these tests are made of (the key has had two names over Synapse versions).
    "ip_range_blacklist: []",
    "ip_range_blocklist: []",
    "ip_range_whitelist: ['127.0.0.0/8']",
    `database: {name: sqlite3, args: {database: ${join(dir, "homeserver.db")}}}`,
    `log_config: ${join(dir, "log.yaml")}`,
    `media_store_path: ${join(dir, "media")}`,
    `signing_key_path: ${join(dir, "signing.key")}`,
    `registration_shared_secret: ${secret()}`,
    `macaroon_secret_key: ${secret()}`,
    `form_secret: ${secret()}`,
    "enable_registration: true",
    "enable_registration_without_verification: true",
    "report_stats: false",
    "trusted_key_servers: []",
    "suppress_key_server_warning: true",
    `rc_message: ${unlimited}`,
    `rc_registration: ${unlimited}`,
    `rc_login: {address: ${unlimited}, account: ${unlimited}, failed_attempts: ${unlimited}}`,
    `rc_joins: {local: ${unlimited}, remote: ${unlimited}}`,
    `rc_invites: {per_room: ${unlimited}, per_user: ${unlimited}, per_issuer: ${unlimited}}`,
    `rc_federation: {window_size: 1000, sleep_limit: 1000, sleep_delay: 1, reject_limit: 1000, concurrent: 100}`,
    `federation_rr_transactions_per_room_per_second: 1000`,
    "presence: {enabled: false}",
  ].join("\n"));
  const proc: ChildProcess = spawn(python, ["-m", "synapse.app.homeserver", "-c", join(dir, "homeserver.yaml")], {
    cwd: dir,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  proc.stderr?.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`Synapse exited (${proc.exitCode}): ${stderr}`);
    try {
      const r = await fetch(`${clientUrl}/_matrix/client/versions`);
      if (r.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`Synapse did not start in 60 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    name,
    clientUrl,
    http: testHttp(() => clientUrl),
    logPath,
    async stop() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once("exit", r));
        proc.kill("SIGTERM");
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
        if (proc.exitCode === null) proc.kill("SIGKILL");
      }
      if (!process.env.TEST_KEEP_SYNAPSE) rmSync(dir, { recursive: true, force: true });
    },
  };
}
