/**
 * The server starts for real on a loopback port and answers as the spec
 * says: /versions, unknown endpoints, wrong methods, CORS preflight.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { startHomeserver, type RunningServer } from "../../src/homeserver.js";
import { createLogger } from "../../src/logger.js";
import { assertSpecResponse } from "../support/spec.js";
import { ENGINES, createTestDatabase, postgresUnavailable, type TestDatabase } from "../support/databases.js";

for (const engine of ENGINES) {
  describe(`HTTP surface on ${engine}`, { skip: engine === "postgres" ? postgresUnavailable() : undefined }, () => {
    let db: TestDatabase;
    let server: RunningServer;

    before(async () => {
      db = await createTestDatabase(engine);
      server = await startHomeserver(db.config(), createLogger("warn"));
    });
    after(async () => {
      await server?.stop();
      await db?.dispose();
    });

    it("answers /_matrix/client/versions with spec version strings", async () => {
      const res = await fetch(`${server.url}/_matrix/client/versions`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type") ?? "", /application\/json/);
      const body = (await res.json()) as { versions: string[]; unstable_features: object };
      assert.ok(Array.isArray(body.versions) && body.versions.length > 0);
      for (const v of body.versions) assert.match(v, /^v1\.\d+$/);
      assert.equal(typeof body.unstable_features, "object");
      assertSpecResponse("client-server", "versions.yaml", "GET", "/versions", 200, body);
      assert.equal(res.headers.get("access-control-allow-origin"), "*");
    });

    it("labels JSON answers plain application/json, errors included (Complement: TestLogin)", async () => {
      for (const path of ["/_matrix/client/versions", "/_matrix/client/v3/login", "/_matrix/client/v3/no/such/thing"]) {
        const res = await fetch(`${server.url}${path}`);
        assert.equal(res.headers.get("content-type"), "application/json", path);
      }
    });

    it("serves the legacy r0 prefix as v3", async () => {
      const res = await fetch(`${server.url}/_matrix/client/r0/login`);
      assert.equal(res.status, 200);
      assert.ok(Array.isArray(((await res.json()) as { flows: unknown[] }).flows));
    });

    it("refuses a body that is not UTF-8 as 400 M_NOT_JSON (Complement: TestRequestEncodingFails)", async () => {
      const res = await fetch(`${server.url}/_matrix/client/v3/register`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]), // {"a":"\xff\xfe"}
      });
      assert.equal(res.status, 400);
      assert.equal(((await res.json()) as { errcode: string }).errcode, "M_NOT_JSON");
    });

    it("answers unknown endpoints with 404 M_UNRECOGNIZED", async () => {
      const res = await fetch(`${server.url}/_matrix/client/v3/no/such/thing`);
      assert.equal(res.status, 404);
      assert.deepEqual(await res.json(), { errcode: "M_UNRECOGNIZED", error: "Unrecognized request" });
    });

    it("answers a known path with the wrong method with 405 M_UNRECOGNIZED", async () => {
      const res = await fetch(`${server.url}/_matrix/client/versions`, { method: "POST" });
      assert.equal(res.status, 405);
      assert.equal(((await res.json()) as { errcode: string }).errcode, "M_UNRECOGNIZED");
    });

    it("answers CORS preflight for browser clients", async () => {
      const res = await fetch(`${server.url}/_matrix/client/v3/login`, { method: "OPTIONS" });
      assert.equal(res.status, 204);
      assert.match(res.headers.get("access-control-allow-headers") ?? "", /Authorization/);
    });

    it("generated its signing key on first start and keeps it", async () => {
      const path = join(server.context.config.data_dir, "signing.key");
      assert.ok(existsSync(path));
      const text = readFileSync(path, "utf8");
      assert.match(text, /^ed25519 \S+ \S+\n?$/);
      assert.equal(server.context.signingKey.keyId, `ed25519:${text.split(" ")[1]}`);
    });
  });
}
