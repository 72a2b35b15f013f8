/**
 * Two of our servers over TLS on loopback: each publishes its signing key,
 * fetches and keeps the other's, signs its requests with X-Matrix and
 * checks the other's; unsigned, badly signed or misdirected requests get
 * 401. Outbound requests to private addresses are refused unless allowed.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { request } from "node:https";
import { readFileSync } from "node:fs";
import { encodeBase64 } from "../../../src/crypto/base64.js";
import { authorizationHeader } from "../../../federation/request-auth.js";
import { FederationClient, FederationError } from "../../../federation/client.js";
import { createLogger } from "../../../src/logger.js";
import { ENGINES, postgresUnavailable } from "../../support/databases.js";
import { startFederatedServers, stopFederatedServers, testCa, type FederatedServer } from "../../support/federation.js";
import { generateSigningKey } from "../../../src/crypto/keys.js";
import { assertSpecResponse } from "../../support/spec.js";
import { canonicalJson } from "../../../src/crypto/canonical-json.js";

/** A raw HTTPS request to a test server (trusting the test CA), for requests our client would never make. */
function raw(s: FederatedServer, method: string, path: string, headers: Record<string, string> = {}, body?: unknown) {
  const url = new URL(s.server.tlsUrl!);
  return new Promise<{ status: number; body: Record<string, any>; text: string }>((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request({
      host: url.hostname, port: url.port, method, path, servername: "localhost", ca: readFileSync(testCa().certPath),
      headers: { ...headers, ...(payload ? { "content-type": "application/json", "content-length": String(payload.length) } : {}) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(text || "{}"), text });
      });
    });
    req.on("error", reject);
    if (payload) req.write(payload);
    req.end();
  });
}

for (const engine of ENGINES) {
  describe(`server keys and request signing on ${engine}`, { skip: engine === "postgres" ? postgresUnavailable() : undefined }, () => {
    let a: FederatedServer;
    let b: FederatedServer;

    before(async () => {
      [a, b] = await startFederatedServers(engine, 2);
      const ann = await a.http.register("ann");
      await a.http.call("PUT", `/_matrix/client/v3/profile/${encodeURIComponent(ann.user_id)}/displayname`, { displayname: "Ann of A" }, ann.access_token);
    });
    after(async () => stopFederatedServers([a, b]));

    it("publishes a self-signed key that another server fetches, checks and keeps", async () => {
      const published = await raw(a, "GET", "/_matrix/key/v2/server");
      assertSpecResponse("server-server", "keys_server.yaml", "GET", "/server", 200, published.body);
      assert.equal(published.body.server_name, a.name);
      assert.ok(published.body.valid_until_ts > Date.now());
      // Sent as canonical JSON, so the signature checks over the very bytes received (Complement: TestInboundFederationKeys).
      assert.equal(published.text, canonicalJson(published.body));
      const keyId = a.server.context.signingKey.keyId;
      const fetched = await b.server.federation.keys.verifyKey(a.name, keyId);
      assert.equal(encodeBase64(fetched!), encodeBase64(a.server.context.signingKey.publicKey));
      const row = await b.server.context.db.knex("server_keys").where({ server_name: a.name, key_id: keyId }).first();
      assert.ok(row, "kept in the database");
      // A notary: A republishes B's keys, signed by A.
      await a.server.federation.keys.verifyKey(b.name, b.server.context.signingKey.keyId);
      const notary = await raw(a, "GET", `/_matrix/key/v2/query/${encodeURIComponent(b.name)}`);
      assert.equal(notary.body.server_keys[0].server_name, b.name);
      assert.ok(notary.body.server_keys[0].signatures[a.name]);
    });

    it("answers a signed request and refuses unsigned, forged and misdirected ones", async () => {
      const profile = await b.server.federation.client.request(a.name, "GET", "/_matrix/federation/v1/query/profile", { query: { user_id: `@ann:${a.name}` } });
      assert.deepEqual(profile, { displayname: "Ann of A" });
      // A user id that is not one (a port that is not a number) is a bad request, not an unknown user.
      await assert.rejects(
        b.server.federation.client.request(a.name, "GET", "/_matrix/federation/v1/query/profile", { query: { user_id: "@ann:localhost:http", field: "displayname" } }),
        (err: unknown) => err instanceof FederationError && err.status === 400 && err.body?.errcode === "M_INVALID_PARAM",
      );

      const path = `/_matrix/federation/v1/query/profile?user_id=${encodeURIComponent(`@ann:${a.name}`)}`;
      const unsigned = await raw(a, "GET", path);
      assert.equal(unsigned.status, 401);
      assert.equal(unsigned.body.errcode, "M_UNAUTHORIZED");
      // Signed for another path.
      const key = b.server.context.signingKey;
      const wrongUri = await raw(a, "GET", path, { authorization: authorizationHeader("GET", "/_matrix/federation/v1/version", b.name, a.name, undefined, key) });
      assert.equal(wrongUri.status, 401);
      // Signed by a key B never published.
      const forged = await raw(a, "GET", path, { authorization: authorizationHeader("GET", path, b.name, a.name, undefined, generateSigningKey()) });
      assert.equal(forged.status, 401);
      // Meant for another server.
      const misdirected = await raw(a, "GET", path, { authorization: authorizationHeader("GET", path, b.name, "elsewhere.test", undefined, key) });
      assert.equal(misdirected.status, 401);
      // The right signature, for comparison, works over the raw client too.
      const good = await raw(a, "GET", path, { authorization: authorizationHeader("GET", path, b.name, a.name, undefined, key) });
      assert.equal(good.status, 200);
      assert.equal(good.body.displayname, "Ann of A");
    });

    it("passes on a remote refusal as a FederationError with the remote's errcode", async () => {
      await assert.rejects(
        b.server.federation.client.request(a.name, "GET", "/_matrix/federation/v1/query/profile", { query: { user_id: `@nobody:${a.name}` } }),
        (err: unknown) => err instanceof FederationError && err.status === 404 && err.body?.errcode === "M_NOT_FOUND",
      );
    });

    it("refuses to reach private addresses unless allowed", async () => {
      const config = b.db.config({ ...b.settings, federation: { ...(b.settings.federation as object), allow_private_addresses: false } });
      const guarded = new FederationClient(config, b.server.context.signingKey, createLogger("error"));
      try {
        await assert.rejects(guarded.request(a.name, "GET", "/_matrix/federation/v1/version"), /private address/);
        await assert.rejects(guarded.request(`127.0.0.1:${new URL(a.server.tlsUrl!).port}`, "GET", "/_matrix/federation/v1/version"), /private address/);
      } finally {
        guarded.close();
      }
    });

    it("refuses a server whose certificate is not from a trusted CA", async () => {
      const config = b.db.config({ ...b.settings, federation: { ...(b.settings.federation as object), trusted_ca_paths: [] } });
      const untrusting = new FederationClient(config, b.server.context.signingKey, createLogger("error"));
      try {
        await assert.rejects(untrusting.request(a.name, "GET", "/_matrix/federation/v1/version"), /certificate/);
      } finally {
        untrusting.close();
      }
    });
  });
}
