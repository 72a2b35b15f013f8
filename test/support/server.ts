/**
 * The usual integration suite: the same tests against a real server on
 * each database engine, started before and stopped after.
 */
import { after, before, describe } from "node:test";
import { startHomeserver, type RunningServer } from "../../src/homeserver.js";
import { createLogger } from "../../src/logger.js";
import { ENGINES, createTestDatabase, postgresUnavailable, type TestDatabase } from "./databases.js";
import { testHttp, type TestHttp } from "./http.js";

export interface ServerHandle {
  /** Set once the suite's `before` has run. */
  readonly server: RunningServer;
  readonly db: TestDatabase;
  readonly http: TestHttp;
}

/** `describe` once per engine (PostgreSQL skipped, with the reason, when none is configured). */
export function describeOnEachEngine(title: string, settings: Record<string, unknown>, body: (h: ServerHandle) => void): void {
  for (const engine of ENGINES) {
    describe(`${title} on ${engine}`, { skip: engine === "postgres" ? postgresUnavailable() : undefined }, () => {
      const h = {} as { server: RunningServer; db: TestDatabase; http: TestHttp };
      h.http = testHttp(() => h.server.url);
      before(async () => {
        h.db = await createTestDatabase(engine);
        h.server = await startHomeserver(h.db.config(settings), createLogger("warn"));
      });
      after(async () => {
        await h.server?.stop();
        await h.db?.dispose();
      });
      body(h);
    });
  }
}
