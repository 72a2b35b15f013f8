/**
 * Remote events go through the same push evaluation as local ones: a
 * mention sent on server A counts for a user of server B in B's /sync and
 * reaches B's user's push gateway (an HTTP server on 127.0.0.1). Two of our
 * servers over TLS on loopback, on every database.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ENGINES, postgresUnavailable } from "../support/databases.js";
import { startFederatedServers, stopFederatedServers, type FederatedServer } from "../support/federation.js";

const V3 = "/_matrix/client/v3";
const enc = encodeURIComponent;

async function eventually<T>(what: string, check: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await check();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

for (const engine of ENGINES) {
  describe(`push for remote events on ${engine}`, { skip: engine === "postgres" ? postgresUnavailable() : undefined }, () => {
    let a: FederatedServer;
    let b: FederatedServer;
    let gateway: Server;
    const received: any[] = [];

    before(async () => {
      [a, b] = await startFederatedServers(engine, 2, { push: { allow_private_addresses: true, require_https: false } });
      gateway = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
          received.push(JSON.parse(Buffer.concat(chunks).toString("utf8")));
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify({ rejected: [] }));
        });
      });
      await new Promise<void>((r) => gateway.listen(0, "127.0.0.1", r));
    });
    after(async () => {
      await new Promise<void>((r) => gateway.close(() => r()));
      await stopFederatedServers([a, b]);
    });

    it("counts a mention from another server and pushes it to the gateway", async () => {
      const alice = await a.http.register("alice");
      const bob = await b.http.register("bob");
      const room = (await a.http.call("POST", `${V3}/createRoom`, { preset: "public_chat" }, alice.access_token)).body.room_id;
      const joined = await b.http.call("POST", `${V3}/join/${enc(room)}?via=${enc(a.name)}`, {}, bob.access_token);
      assert.equal(joined.status, 200, JSON.stringify(joined.body));
      const url = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}/_matrix/push/v1/notify`;
      const set = await b.http.call("POST", `${V3}/pushers/set`, {
        kind: "http", app_id: "org.example.app", pushkey: "k", app_display_name: "App", device_display_name: "Phone", lang: "en", data: { url },
      }, bob.access_token);
      assert.equal(set.status, 200, JSON.stringify(set.body));
      const sent = await a.http.call("PUT", `${V3}/rooms/${enc(room)}/send/m.room.message/t1`, { msgtype: "m.text", body: "hi bob", "m.mentions": { user_ids: [bob.user_id] } }, alice.access_token);
      assert.equal(sent.status, 200);
      const counts = await eventually("bob's counts on B", async () => {
        const s = await b.http.call("GET", `${V3}/sync`, undefined, bob.access_token);
        const c = s.body.rooms?.join?.[room]?.unread_notifications;
        return c?.notification_count > 0 ? c : undefined;
      });
      assert.deepEqual(counts, { notification_count: 1, highlight_count: 1 });
      await eventually("the gateway to be told", async () => (received.length > 0 ? true : undefined));
      assert.equal(received[0].notification.event_id, sent.body.event_id);
      assert.equal(received[0].notification.sender, alice.user_id);
      assert.deepEqual(received[0].notification.devices[0].tweaks, { sound: "default", highlight: true });
    });
  });
}
