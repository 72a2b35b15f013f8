/**
 * Several of our servers federating on loopback, over real TLS: each is
 * named localhost:<port> (a hostname with an explicit port, so discovery
 * connects straight there), serves federation on that port with a
 * certificate from a test CA, and trusts that CA for outbound requests.
 */
import { createLogger } from "../../src/logger.js";
import { startHomeserver, type RunningServer } from "../../src/homeserver.js";
import { createTestDatabase, type Engine, type TestDatabase } from "./databases.js";
import { testHttp, type TestHttp } from "./http.js";
import { createTestCa, freePort, issueCert, type TestCa } from "./tls.js";

export interface FederatedServer {
  readonly name: string;
  server: RunningServer;
  readonly db: TestDatabase;
  readonly http: TestHttp;
  readonly settings: Record<string, unknown>;
  /** Stop and start again on the same data (a restart). */
  restart(): Promise<void>;
}

let sharedCa: TestCa | undefined;
export function testCa(): TestCa {
  return (sharedCa ??= createTestCa());
}

export async function startFederatedServers(engine: Engine, count: number, extra: Record<string, unknown> = {}): Promise<FederatedServer[]> {
  const ca = testCa();
  const out: FederatedServer[] = [];
  for (let i = 0; i < count; i++) {
    const port = await freePort();
    const name = `localhost:${port}`;
    const cert = issueCert(ca, ["localhost", "127.0.0.1"]);
    const db = await createTestDatabase(engine);
    const settings: Record<string, unknown> = {
      server_name: name,
      registration: { enabled: true },
      ...extra,
      federation: {
        tls_port: port,
        tls_certificate_path: cert.certPath,
        tls_private_key_path: cert.keyPath,
        trusted_ca_paths: [ca.certPath],
        allow_private_addresses: true,
        retry_initial_ms: 200,
        retry_max_ms: 2000,
        request_timeout_ms: 10_000,
        ...(extra.federation as object),
      },
    };
    const s: FederatedServer = {
      name,
      db,
      settings,
      server: await startHomeserver(db.config(settings), createLogger((process.env.TEST_SERVER_LOGS as "info") ?? "warn")),
      http: testHttp(() => s.server.url),
      async restart() {
        await s.server.stop();
        s.server = await startHomeserver(db.config(settings), createLogger((process.env.TEST_SERVER_LOGS as "info") ?? "warn"));
      },
    };
    out.push(s);
  }
  return out;
}

export async function stopFederatedServers(servers: readonly FederatedServer[]): Promise<void> {
  for (const s of servers) {
    await s.server?.stop();
    await s.db.dispose();
  }
}
