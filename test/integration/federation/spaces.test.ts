/**
 * Spaces across servers: a space on A lists rooms on A and on B. A user
 * of B who is in none of them walks the space through their own server,
 * which asks A over federation (/hierarchy) and sees the rooms they could
 * join, and not the invite-only one. A's answer to B is checked against
 * the spec's shape, with the invite-only room among inaccessible_children.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { ENGINES, postgresUnavailable } from "../../support/databases.js";
import { startFederatedServers, stopFederatedServers, type FederatedServer } from "../../support/federation.js";
import type { Registered } from "../../support/http.js";
import { assertSpecResponse } from "../../support/spec.js";

const V3 = "/_matrix/client/v3";
const enc = encodeURIComponent;

for (const engine of ENGINES) {
  describe(`spaces across servers on ${engine}`, { skip: engine === "postgres" ? postgresUnavailable() : undefined }, () => {
    let a: FederatedServer;
    let b: FederatedServer;
    let alice: Registered;
    let bob: Registered;
    const ids: Record<string, string> = {};

    const create = async (s: FederatedServer, who: Registered, body: Record<string, unknown>) => {
      const r = await s.http.call("POST", `${V3}/createRoom`, body, who.access_token);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.room_id as string;
    };
    const addChild = async (space: string, child: string, via: string, suggested = false) => {
      const r = await a.http.call("PUT", `${V3}/rooms/${enc(space)}/state/m.space.child/${enc(child)}`, { via: [via], suggested }, alice.access_token);
      assert.equal(r.status, 200, JSON.stringify(r.body));
    };

    before(async () => {
      [a, b] = await startFederatedServers(engine, 2);
      alice = await a.http.register("alice");
      bob = await b.http.register("bob");
      // Version 11: its room id names A, which is how B finds the root (a v12 id names no server, and the client API gives no via).
      ids.space = await create(a, alice, { preset: "public_chat", name: "Club", room_version: "11", creation_content: { type: "m.space" } });
      ids.lobby = await create(a, alice, { preset: "public_chat", name: "Lobby" });
      ids.staff = await create(a, alice, { preset: "private_chat", name: "Staff" });
      ids.chess = await create(b, bob, { preset: "public_chat", name: "Chess on B" });
      await addChild(ids.space, ids.lobby, a.name, true);
      await addChild(ids.space, ids.staff, a.name);
      await addChild(ids.space, ids.chess, b.name);
    });
    after(async () => stopFederatedServers([a, b]));

    it("answers another server with the children its users could join, and names the rest inaccessible", async () => {
      const answer = await b.server.federation.client.request(a.name, "GET", `/_matrix/federation/v1/hierarchy/${enc(ids.space)}`);
      assertSpecResponse("server-server", "space_hierarchy.yaml", "GET", "/hierarchy/{roomId}", 200, answer);
      assert.equal((answer.room as { room_id: string }).room_id, ids.space);
      assert.deepEqual((answer.children as Array<{ room_id: string }>).map((c) => c.room_id), [ids.lobby]);
      assert.deepEqual(answer.inaccessible_children, [ids.staff]);

      const suggested = await b.server.federation.client.request(a.name, "GET", `/_matrix/federation/v1/hierarchy/${enc(ids.space)}`, { query: { suggested_only: true } });
      assert.deepEqual((suggested.room as { children_state: Array<{ state_key: string }> }).children_state.map((c) => c.state_key), [ids.lobby]);
    });

    it("lets a user walk a space held on another server, through their own", async () => {
      const r = await b.http.call("GET", `/_matrix/client/v1/rooms/${enc(ids.space)}/hierarchy`, undefined, bob.access_token);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assertSpecResponse("client-server", "space_hierarchy.yaml", "GET", "/rooms/{roomId}/hierarchy", 200, r.body);
      const listed = (r.body.rooms as Array<{ room_id: string; name?: string }>).map((x) => x.name);
      assert.deepEqual(listed, ["Club", "Lobby", "Chess on B"]);
    });

    it("shows a restricted room held elsewhere only once its server sees the asker's users in an allowed room", async () => {
      const club = ids.space;
      const restricted = await create(b, bob, {
        preset: "public_chat",
        name: "Members only",
        initial_state: [{ type: "m.room.join_rules", state_key: "", content: { join_rule: "restricted", allow: [{ type: "m.room_membership", room_id: club, via: [a.name] }] } }],
      });
      await addChild(club, restricted, b.name);
      const dave = await a.http.register("dave"); // on A, never in the space
      const names = async (who: Registered) => {
        const r = await a.http.call("GET", `/_matrix/client/v1/rooms/${enc(club)}/hierarchy`, undefined, who.access_token);
        assert.equal(r.status, 200, JSON.stringify(r.body));
        return (r.body.rooms as Array<{ name?: string }>).map((x) => x.name);
      };
      // B holds no allowed room with A's users in it: the room is inaccessible to A.
      assert.ok(!(await names(alice)).includes("Members only"));
      // Once bob joins the space, B sees A's users there, and A shows the room to its users in the space only.
      const joined = await b.http.call("POST", `${V3}/join/${enc(club)}?server_name=${enc(a.name)}`, {}, bob.access_token);
      assert.equal(joined.status, 200, JSON.stringify(joined.body));
      assert.ok((await names(alice)).includes("Members only"));
      assert.ok(!(await names(dave)).includes("Members only"));
    });

    it("refuses a space the asking server may not see", async () => {
      const secret = await create(a, alice, { preset: "private_chat", room_version: "11", creation_content: { type: "m.space" } });
      const r = await b.http.call("GET", `/_matrix/client/v1/rooms/${enc(secret)}/hierarchy`, undefined, bob.access_token);
      assert.equal(r.status, 403);
      assert.equal(r.body.errcode, "M_FORBIDDEN");
    });
  });
}
