/**
 * Relations arriving over federation are indexed like local ones (one
 * persist path): a thread reply and an edit sent on B show in the bundled
 * aggregations A serves, and B's redaction of the reply takes it out of
 * A's count. Two of our servers over loopback TLS.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { ENGINES, postgresUnavailable } from "../support/databases.js";
import { startFederatedServers, stopFederatedServers, type FederatedServer } from "../support/federation.js";
import { eventually } from "../support/eventually.js";

const V3 = "/_matrix/client/v3";
const enc = encodeURIComponent;

for (const engine of ENGINES) {
  describe(`relations over federation on ${engine}`, { skip: engine === "postgres" ? postgresUnavailable() : undefined }, () => {
    let servers: FederatedServer[];
    before(async () => {
      servers = await startFederatedServers(engine, 2);
    });
    after(async () => stopFederatedServers(servers));

    it("aggregates a remote thread reply and edit, and drops the reply when it is redacted there", { timeout: 60_000 }, async () => {
      const [a, b] = servers;
      const alice = await a.http.register("alice");
      const bob = await b.http.register("bob");
      const roomId = (await a.http.call("POST", `${V3}/createRoom`, { preset: "public_chat" }, alice.access_token)).body.room_id as string;
      const joined = await b.http.call("POST", `${V3}/join/${enc(roomId)}?via=${enc(a.name)}`, {}, bob.access_token);
      assert.equal(joined.status, 200, JSON.stringify(joined.body));
      const root = (await a.http.call("PUT", `${V3}/rooms/${enc(roomId)}/send/m.room.message/r1`, { msgtype: "m.text", body: "root" }, alice.access_token)).body.event_id as string;
      await eventually("B to hold the root", async () => {
        const r = await b.http.call("GET", `${V3}/rooms/${enc(roomId)}/event/${enc(root)}`, undefined, bob.access_token);
        return r.status === 200 ? true : undefined;
      });
      const reply = (await b.http.call("PUT", `${V3}/rooms/${enc(roomId)}/send/m.room.message/b1`, {
        msgtype: "m.text", body: "from B", "m.relates_to": { rel_type: "m.thread", event_id: root },
      }, bob.access_token)).body.event_id as string;
      const edit = (await b.http.call("PUT", `${V3}/rooms/${enc(roomId)}/send/m.room.message/b2`, {
        msgtype: "m.text", body: "* from B!", "m.new_content": { msgtype: "m.text", body: "from B!" }, "m.relates_to": { rel_type: "m.replace", event_id: reply },
      }, bob.access_token)).body.event_id as string;

      const thread = await eventually("A to aggregate B's reply and its edit", async () => {
        const r = await a.http.call("GET", `${V3}/rooms/${enc(roomId)}/event/${enc(root)}`, undefined, alice.access_token);
        const t = r.body.unsigned?.["m.relations"]?.["m.thread"];
        return t?.latest_event?.unsigned?.["m.relations"]?.["m.replace"] ? t : undefined;
      });
      assert.equal(thread.count, 1);
      assert.equal(thread.latest_event.event_id, reply);
      assert.equal(thread.latest_event.unsigned["m.relations"]["m.replace"].event_id, edit);
      assert.equal(thread.current_user_participated, true);
      const listed = await a.http.call("GET", `/_matrix/client/v1/rooms/${enc(roomId)}/threads`, undefined, alice.access_token);
      assert.deepEqual(listed.body.chunk.map((e: { event_id: string }) => e.event_id), [root]);

      assert.equal((await b.http.call("PUT", `${V3}/rooms/${enc(roomId)}/redact/${enc(reply)}/x1`, {}, bob.access_token)).status, 200);
      await eventually("A to drop the redacted reply", async () => {
        const r = await a.http.call("GET", `${V3}/rooms/${enc(roomId)}/event/${enc(root)}`, undefined, alice.access_token);
        return r.status === 200 && r.body.unsigned?.["m.relations"] === undefined ? true : undefined;
      });
      const rel = await a.http.call("GET", `/_matrix/client/v1/rooms/${enc(roomId)}/relations/${enc(root)}`, undefined, alice.access_token);
      assert.deepEqual(rel.body.chunk, []);
    });
  });
}
