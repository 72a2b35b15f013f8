/**
 * Interop with Synapse, the reference homeserver, over TLS on loopback:
 * a room made here is joined from Synapse and one made on Synapse is
 * joined from here; messages and state flow both ways; each reads the
 * other's profiles and aliases.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { ENGINES, postgresUnavailable } from "../../support/databases.js";
import { startFederatedServers, stopFederatedServers, testCa, type FederatedServer } from "../../support/federation.js";
import type { Registered, TestHttp } from "../../support/http.js";
import { startSynapse, synapseUnavailable, type SynapseServer } from "../../support/synapse.js";
import { eventually } from "../../support/eventually.js";

const V3 = "/_matrix/client/v3";
const enc = encodeURIComponent;

async function bodies(http: TestHttp, who: Registered, roomId: string): Promise<string[]> {
  const r = await http.call("GET", `${V3}/rooms/${enc(roomId)}/messages?dir=b&limit=50`, undefined, who.access_token);
  if (r.status !== 200) return [];
  return (r.body.chunk as Array<{ type: string; content: { body?: string } }>).filter((e) => e.type === "m.room.message").map((e) => String(e.content.body)).reverse();
}

for (const engine of ENGINES) {
  const skip = engine === "postgres" ? postgresUnavailable() : undefined;
  describe(`federation with Synapse on ${engine}`, { skip: skip ?? synapseUnavailable() }, () => {
    let ours: FederatedServer;
    let synapse: SynapseServer;
    let alice: Registered;
    let sam: Registered;

    before(async () => {
      [ours] = await startFederatedServers(engine, 1);
      synapse = await startSynapse(testCa());
      alice = await ours.http.register("alice");
      sam = await synapse.http.register("sam");
      await ours.http.call("PUT", `${V3}/profile/${enc(alice.user_id)}/displayname`, { displayname: "Alice (pimatrix)" }, alice.access_token);
    });
    after(async () => {
      await synapse?.stop();
      await stopFederatedServers(ours ? [ours] : []);
    });

    const say = async (http: TestHttp, who: Registered, roomId: string, text: string) => {
      const r = await http.call("PUT", `${V3}/rooms/${enc(roomId)}/send/m.room.message/t${Date.now()}${Math.random()}`, { msgtype: "m.text", body: text }, who.access_token);
      assert.equal(r.status, 200, JSON.stringify(r.body));
    };

    it("Synapse joins a room made here, by alias, and both talk", { timeout: 90_000 }, async () => {
      const created = await ours.http.call("POST", `${V3}/createRoom`, { preset: "public_chat", room_alias_name: "interop", name: "Made on pimatrix" }, alice.access_token);
      assert.equal(created.status, 200);
      const roomId = created.body.room_id;
      const joined = await synapse.http.call("POST", `${V3}/join/${enc(`#interop:${ours.name}`)}`, {}, sam.access_token);
      assert.equal(joined.status, 200, `Synapse could not join: ${JSON.stringify(joined.body)} (log: ${synapse.logPath})`);
      assert.equal(joined.body.room_id, roomId);
      const name = await synapse.http.call("GET", `${V3}/rooms/${enc(roomId)}/state/m.room.name`, undefined, sam.access_token);
      assert.equal(name.body.name, "Made on pimatrix");

      await say(ours.http, alice, roomId, "hi Synapse");
      await eventually("Synapse to get our message", async () => ((await bodies(synapse.http, sam, roomId)).includes("hi Synapse") ? true : undefined));
      await say(synapse.http, sam, roomId, "hi pimatrix");
      await eventually("us to get Synapse's message", async () => ((await bodies(ours.http, alice, roomId)).includes("hi pimatrix") ? true : undefined));
      const members = await ours.http.call("GET", `${V3}/rooms/${enc(roomId)}/joined_members`, undefined, alice.access_token);
      assert.deepEqual(Object.keys(members.body.joined).sort(), [alice.user_id, sam.user_id].sort());
    });

    it("we join a room made on Synapse, and both talk", { timeout: 90_000 }, async () => {
      const created = await synapse.http.call("POST", `${V3}/createRoom`, { preset: "public_chat", name: "Made on Synapse", room_version: "10" }, sam.access_token);
      assert.equal(created.status, 200);
      const roomId = created.body.room_id;
      const joined = await ours.http.call("POST", `${V3}/join/${enc(roomId)}?via=${enc(synapse.name)}`, {}, alice.access_token);
      assert.equal(joined.status, 200, JSON.stringify(joined.body));
      const name = await ours.http.call("GET", `${V3}/rooms/${enc(roomId)}/state/m.room.name`, undefined, alice.access_token);
      assert.equal(name.body.name, "Made on Synapse");

      await say(synapse.http, sam, roomId, "welcome from Synapse");
      await eventually("us to get Synapse's message", async () => ((await bodies(ours.http, alice, roomId)).includes("welcome from Synapse") ? true : undefined));
      await say(ours.http, alice, roomId, "thanks from pimatrix");
      await eventually("Synapse to get our message", async () => ((await bodies(synapse.http, sam, roomId)).includes("thanks from pimatrix") ? true : undefined));
    });

    it("reads profiles both ways", async () => {
      const theirs = await synapse.http.call("GET", `${V3}/profile/${enc(alice.user_id)}`, undefined, sam.access_token);
      assert.equal(theirs.body.displayname, "Alice (pimatrix)");
      const mine = await ours.http.call("GET", `${V3}/profile/${enc(sam.user_id)}`, undefined, alice.access_token);
      assert.equal(mine.status, 200);
      assert.equal(mine.body.displayname, "sam");
    });
  });
}
