/**
 * matrix-js-sdk (the SDK Element is built on) against a real server: what
 * a client does first (versions, registration, whoami, profile, account data).
 * The conversation test grows here as rooms and /sync land.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startHomeserver, type RunningServer } from "../../src/homeserver.js";
import { createLogger } from "../../src/logger.js";
import { ENGINES, createTestDatabase, postgresUnavailable, type TestDatabase } from "../support/databases.js";
import { registerClient, sdk } from "../support/js-sdk.js";

for (const engine of ENGINES) {
  describe(`matrix-js-sdk on ${engine}`, { skip: engine === "postgres" ? postgresUnavailable() : undefined }, () => {
    let db: TestDatabase;
    let server: RunningServer;

    before(async () => {
      db = await createTestDatabase(engine);
      server = await startHomeserver(db.config({ server_name: "sdk.test", registration: { enabled: true } }), createLogger("warn"));
    });
    after(async () => {
      await server?.stop();
      await db?.dispose();
    });

    it("sees a server it supports, registers, and knows who it is", async () => {
      const anon = sdk.createClient({ baseUrl: server.url });
      const versions = await anon.getVersions();
      assert.ok(versions.versions.includes("v1.11"));
      const alice = await registerClient(server.url, "alice");
      assert.equal(alice.getUserId(), "@alice:sdk.test");
      const who = await alice.whoami();
      assert.equal(who.user_id, "@alice:sdk.test");
      assert.equal(who.device_id, alice.getDeviceId());
      const caps = await alice.getCapabilities();
      assert.equal(caps["m.room_versions"]?.default, "12");
    });

    it("sets and reads a profile and account data", async () => {
      const bob = await registerClient(server.url, "bob");
      await bob.setDisplayName("Bob B.");
      const profile = await bob.getProfileInfo("@bob:sdk.test");
      assert.equal(profile.displayname, "Bob B.");
      const type = "org.example.settings" as keyof sdk.AccountDataEvents;
      await bob.setAccountDataRaw(type, { theme: "dark" } as never);
      const data = await bob.getAccountDataFromServer(type);
      assert.deepEqual(data, { theme: "dark" });
    });

    it("logs in with a password on a second device and logs out", async () => {
      const anon = sdk.createClient({ baseUrl: server.url });
      const login = await anon.loginRequest({ type: "m.login.password", identifier: { type: "m.id.user", user: "alice" }, password: "pw-alice" });
      assert.equal(login.user_id, "@alice:sdk.test");
      const second = sdk.createClient({ baseUrl: server.url, userId: login.user_id, accessToken: login.access_token, deviceId: login.device_id });
      assert.equal((await second.whoami()).device_id, login.device_id);
      await second.logout();
      await assert.rejects(second.whoami(), (err: { errcode?: string }) => err.errcode === "M_UNKNOWN_TOKEN");
    });
  });
}
