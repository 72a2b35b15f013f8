/** Room aliases over real HTTP: create, resolve, list, delete, and the errors. */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startHomeserver, type RunningServer } from "../../src/homeserver.js";
import { createLogger } from "../../src/logger.js";
import { assertSpecResponse } from "../support/spec.js";
import { testHttp } from "../support/http.js";
import { ENGINES, createTestDatabase, postgresUnavailable, type TestDatabase } from "../support/databases.js";

for (const engine of ENGINES) {
  describe(`room aliases on ${engine}`, { skip: engine === "postgres" ? postgresUnavailable() : undefined }, () => {
    let db: TestDatabase;
    let server: RunningServer;
    const { call, register } = testHttp(() => server.url);

    before(async () => {
      db = await createTestDatabase(engine);
      server = await startHomeserver(db.config({ server_name: "dir.test", registration: { enabled: true } }), createLogger("warn"));
    });
    after(async () => {
      await server?.stop();
      await db?.dispose();
    });

    it("creates, resolves, lists and deletes an alias", async () => {
      const owner = await register("owner");
      const other = await register("other");
      const hs = server.context;
      const roomId = (await hs.localEvents.createRoom(owner.user_id, "10")).event.roomId;
      await hs.localEvents.send(roomId, { type: "m.room.member", stateKey: owner.user_id, sender: owner.user_id, content: { membership: "join" } });
      const alias = encodeURIComponent("#club:dir.test");

      assert.equal((await call("PUT", `/_matrix/client/v3/directory/room/${alias}`, { room_id: roomId }, owner.access_token)).status, 200);
      const taken = await call("PUT", `/_matrix/client/v3/directory/room/${alias}`, { room_id: roomId }, other.access_token);
      assert.equal(taken.status, 409);
      const resolved = await call("GET", `/_matrix/client/v3/directory/room/${alias}`);
      assert.deepEqual(resolved.body, { room_id: roomId, servers: ["dir.test"] });
      assertSpecResponse("client-server", "directory.yaml", "GET", "/directory/room/{roomAlias}", 200, resolved.body);
      assert.deepEqual((await call("GET", `/_matrix/client/v3/rooms/${roomId}/aliases`, undefined, owner.access_token)).body, { aliases: ["#club:dir.test"] });
      assert.equal((await call("GET", `/_matrix/client/v3/rooms/${roomId}/aliases`, undefined, other.access_token)).status, 403);

      assert.equal((await call("DELETE", `/_matrix/client/v3/directory/room/${alias}`, undefined, other.access_token)).status, 403);
      assert.equal((await call("DELETE", `/_matrix/client/v3/directory/room/${alias}`, undefined, owner.access_token)).status, 200);
      const gone = await call("GET", `/_matrix/client/v3/directory/room/${alias}`);
      assert.equal(gone.status, 404);
      assert.equal(gone.body.errcode, "M_NOT_FOUND");
    });

    it("creates a room with room_alias_name, which others can join by", async () => {
      const maker = await register("maker");
      const joiner = await register("joiner");
      const created = await call("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat", room_alias_name: "lobby" }, maker.access_token);
      assert.equal(created.status, 200);
      const roomId = created.body.room_id as string;
      const canonical = await call("GET", `/_matrix/client/v3/rooms/${roomId}/state/m.room.canonical_alias`, undefined, maker.access_token);
      assert.deepEqual(canonical.body, { alias: "#lobby:dir.test" });
      const again = await call("POST", "/_matrix/client/v3/createRoom", { room_alias_name: "lobby" }, joiner.access_token);
      assert.equal(again.status, 400);
      assert.equal(again.body.errcode, "M_ROOM_IN_USE");
      const joined = await call("POST", `/_matrix/client/v3/join/${encodeURIComponent("#lobby:dir.test")}`, {}, joiner.access_token);
      assert.deepEqual(joined.body, { room_id: roomId });
      assert.equal(await server.context.states.membershipOf(roomId, joiner.user_id), "join");
      assert.equal((await call("POST", `/_matrix/client/v3/join/${encodeURIComponent("#nope:dir.test")}`, {}, joiner.access_token)).status, 404);
    });

    it("lists public rooms with their summary, filtered and paginated, and lets moderators change the listing", async () => {
      const host = await register("host");
      const guest = await register("guest");
      const ids: string[] = [];
      for (const [name, topic] of [["Chess club", "Openings"], ["Choir", "Singing"], ["Robotics", "Build things"]]) {
        const r = await call("POST", "/_matrix/client/v3/createRoom", { visibility: "public", preset: "public_chat", name, topic }, host.access_token);
        ids.push(r.body.room_id);
      }
      await call("POST", "/_matrix/client/v3/createRoom", { name: "Secret", preset: "private_chat" }, host.access_token);
      await call("POST", `/_matrix/client/v3/join/${ids[2]}`, {}, guest.access_token);

      const all = await call("GET", "/_matrix/client/v3/publicRooms");
      assert.equal(all.status, 200);
      assertSpecResponse("client-server", "list_public_rooms.yaml", "GET", "/publicRooms", 200, all.body);
      assert.equal(all.body.total_room_count_estimate, 3);
      assert.equal(all.body.chunk[0].room_id, ids[2], "the busiest room first");
      assert.equal(all.body.chunk[0].num_joined_members, 2);
      assert.equal(all.body.chunk[0].name, "Robotics");
      assert.equal(all.body.chunk[0].join_rule, "public");
      assert.ok(!all.body.chunk.some((c: { name?: string }) => c.name === "Secret"));

      const page1 = await call("GET", "/_matrix/client/v3/publicRooms?limit=2");
      assert.equal(page1.body.chunk.length, 2);
      const page2 = await call("GET", `/_matrix/client/v3/publicRooms?limit=2&since=${page1.body.next_batch}`);
      assert.equal(page2.body.chunk.length, 1);
      assert.equal(page2.body.next_batch, undefined);
      const seen = [...page1.body.chunk, ...page2.body.chunk].map((c: { room_id: string }) => c.room_id).sort();
      assert.deepEqual(seen, [...ids].sort());

      const searched = await call("POST", "/_matrix/client/v3/publicRooms", { filter: { generic_search_term: "sing" } }, guest.access_token);
      assert.deepEqual(searched.body.chunk.map((c: { name: string }) => c.name), ["Choir"]);

      assert.deepEqual((await call("GET", `/_matrix/client/v3/directory/list/room/${ids[0]}`)).body, { visibility: "public" });
      assert.equal((await call("PUT", `/_matrix/client/v3/directory/list/room/${ids[0]}`, { visibility: "private" }, guest.access_token)).status, 403);
      assert.equal((await call("PUT", `/_matrix/client/v3/directory/list/room/${ids[0]}`, { visibility: "private" }, host.access_token)).status, 200);
      assert.equal((await call("GET", "/_matrix/client/v3/publicRooms")).body.total_room_count_estimate, 2);
    });

    it("refuses aliases of other servers, malformed aliases and unknown rooms", async () => {
      const u = await register("u2");
      const foreign = await call("PUT", `/_matrix/client/v3/directory/room/${encodeURIComponent("#x:elsewhere.org")}`, { room_id: "!r:dir.test" }, u.access_token);
      assert.equal(foreign.status, 400);
      assert.equal((await call("PUT", `/_matrix/client/v3/directory/room/nohash`, { room_id: "!r:dir.test" }, u.access_token)).status, 400);
      assert.equal((await call("PUT", `/_matrix/client/v3/directory/room/${encodeURIComponent("#y:dir.test")}`, { room_id: "!missing:dir.test" }, u.access_token)).status, 404);
      assert.equal((await call("PUT", `/_matrix/client/v3/directory/room/${encodeURIComponent("#y:dir.test")}`, { room_id: 5 }, u.access_token)).body.errcode, "M_BAD_JSON");
      assert.equal((await call("GET", `/_matrix/client/v3/directory/room/${encodeURIComponent("#y:dir.test")}`)).status, 404);
    });
  });
}

describe("knocking", () => {
  it("lets a user knock on a knock room (v7+), shows it to the room, and refuses where the rules do not allow it", async () => {
    const db = await createTestDatabase("sqlite");
    const server = await startHomeserver(db.config({ server_name: "kn.test", registration: { enabled: true } }), createLogger("warn"));
    const { call, register } = testHttp(() => server.url);
    try {
      const host = await register("khost");
      const visitor = await register("kvisit");
      const room = (await call("POST", "/_matrix/client/v3/createRoom", {
        room_version: "10", preset: "private_chat", initial_state: [{ type: "m.room.join_rules", content: { join_rule: "knock" } }],
      }, host.access_token)).body.room_id;
      const knocked = await call("POST", `/_matrix/client/v3/knock/${room}`, { reason: "let me in" }, visitor.access_token);
      assert.equal(knocked.status, 200);
      assert.deepEqual(knocked.body, { room_id: room });
      const member = await call("GET", `/_matrix/client/v3/rooms/${room}/state/m.room.member/${visitor.user_id}`, undefined, host.access_token);
      assert.deepEqual([member.body.membership, member.body.reason], ["knock", "let me in"]);
      // The host lets them in with an invite, and they join.
      await call("POST", `/_matrix/client/v3/rooms/${room}/invite`, { user_id: visitor.user_id }, host.access_token);
      assert.equal((await call("POST", `/_matrix/client/v3/join/${room}`, {}, visitor.access_token)).status, 200);

      const old = (await call("POST", "/_matrix/client/v3/createRoom", {
        room_version: "6", preset: "private_chat", initial_state: [{ type: "m.room.join_rules", content: { join_rule: "knock" } }],
      }, host.access_token)).body.room_id;
      const refused = await call("POST", `/_matrix/client/v3/knock/${old}`, {}, visitor.access_token);
      assert.equal(refused.status, 403, "v6 has no knocking");
      assert.equal(await server.context.states.membershipOf(old, visitor.user_id), undefined);
    } finally {
      await server.stop();
      await db.dispose();
    }
  });
});
