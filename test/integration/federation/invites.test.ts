/**
 * Invites across servers, the ways they end: a user invited to a room
 * their server already takes part in can join or refuse it there (the
 * invite arrives through the room as well as through /invite); an invite
 * to a room their server holds nothing of can be refused, or rescinded by
 * the inviter, and either way /sync shows the room as left.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { ENGINES, postgresUnavailable } from "../../support/databases.js";
import { startFederatedServers, stopFederatedServers, type FederatedServer } from "../../support/federation.js";
import type { Registered } from "../../support/http.js";
import { eventually } from "../../support/eventually.js";

const V3 = "/_matrix/client/v3";
const enc = encodeURIComponent;

for (const engine of ENGINES) {
  describe(`invites across servers on ${engine}`, { skip: engine === "postgres" ? postgresUnavailable() : undefined }, () => {
    let a: FederatedServer;
    let b: FederatedServer;
    let alice: Registered;
    let bob: Registered;
    let bea: Registered;

    before(async () => {
      [a, b] = await startFederatedServers(engine, 2);
      alice = await a.http.register("alice");
      bob = await b.http.register("bob");
      bea = await b.http.register("bea");
    });
    after(async () => stopFederatedServers([a, b]));

    const privateRoom = async () => {
      const r = await a.http.call("POST", `${V3}/createRoom`, { preset: "private_chat" }, alice.access_token);
      assert.equal(r.status, 200);
      return r.body.room_id as string;
    };
    const invite = async (roomId: string, who: Registered) => {
      const r = await a.http.call("POST", `${V3}/rooms/${enc(roomId)}/invite`, { user_id: who.user_id }, alice.access_token);
      assert.equal(r.status, 200, JSON.stringify(r.body));
    };
    /** The user's membership of the room as their own /sync shows it, once it shows one. */
    const syncedMembership = (who: Registered, roomId: string, section: "invite" | "join" | "leave", since?: string) =>
      eventually(`${who.user_id} to see ${roomId} in ${section}`, async () => {
        const r = await b.http.call("GET", `${V3}/sync?timeout=0${since ? `&since=${enc(since)}` : ""}`, undefined, who.access_token);
        const room = r.body.rooms?.[section]?.[roomId];
        return room ? { room, next: r.body.next_batch as string } : undefined;
      });
    const membersOnA = async (roomId: string) => {
      const r = await a.http.call("GET", `${V3}/rooms/${enc(roomId)}/members`, undefined, alice.access_token);
      return Object.fromEntries((r.body.chunk as Array<{ state_key: string; content: { membership: string } }>).map((e) => [e.state_key, e.content.membership]));
    };

    it("lets a user join a room their server already takes part in, through their own server", async () => {
      const roomId = await privateRoom();
      await invite(roomId, bob);
      assert.equal((await b.http.call("POST", `${V3}/join/${enc(roomId)}?server_name=${enc(a.name)}`, {}, bob.access_token)).status, 200);
      await invite(roomId, bea);
      await syncedMembership(bea, roomId, "invite");
      // B is in the room (bob): bea's join is made on B, against the room's state there, which holds her invite.
      const joined = await b.http.call("POST", `${V3}/join/${enc(roomId)}`, {}, bea.access_token);
      assert.equal(joined.status, 200, JSON.stringify(joined.body));
      await eventually("A to see bea joined", async () => ((await membersOnA(roomId))[bea.user_id] === "join" ? true : undefined));
    });

    it("lets a user refuse an invite to a room their server already takes part in", async () => {
      const roomId = await privateRoom();
      await invite(roomId, bob);
      assert.equal((await b.http.call("POST", `${V3}/join/${enc(roomId)}?server_name=${enc(a.name)}`, {}, bob.access_token)).status, 200);
      await invite(roomId, bea);
      await syncedMembership(bea, roomId, "invite");
      const left = await b.http.call("POST", `${V3}/rooms/${enc(roomId)}/leave`, {}, bea.access_token);
      assert.equal(left.status, 200, JSON.stringify(left.body));
      await eventually("A to see bea's refusal", async () => ((await membersOnA(roomId))[bea.user_id] === "leave" ? true : undefined));
    });

    it("shows a refused invite to a room held elsewhere as left", async () => {
      const roomId = await privateRoom();
      await invite(roomId, bea);
      const { next } = await syncedMembership(bea, roomId, "invite");
      assert.equal((await b.http.call("POST", `${V3}/rooms/${enc(roomId)}/leave`, {}, bea.access_token)).status, 200);
      const { room } = await syncedMembership(bea, roomId, "leave", next);
      const leave = (room.timeline.events as Array<{ type: string; state_key: string; content: { membership: string } }>)
        .find((e) => e.type === "m.room.member" && e.state_key === bea.user_id);
      assert.equal(leave?.content.membership, "leave");
      await eventually("A to see bea's refusal", async () => ((await membersOnA(roomId))[bea.user_id] === "leave" ? true : undefined));
    });

    it("shows an invite the inviter rescinded as left, though the invitee's server holds nothing of the room", async () => {
      const roomId = await privateRoom();
      await invite(roomId, bea);
      const { next } = await syncedMembership(bea, roomId, "invite");
      const kicked = await a.http.call("POST", `${V3}/rooms/${enc(roomId)}/kick`, { user_id: bea.user_id, reason: "sorry, wrong person" }, alice.access_token);
      assert.equal(kicked.status, 200, JSON.stringify(kicked.body));
      const { room } = await syncedMembership(bea, roomId, "leave", next);
      const leave = (room.timeline.events as Array<{ type: string; state_key: string; sender: string; content: { membership: string } }>)
        .find((e) => e.type === "m.room.member" && e.state_key === bea.user_id);
      assert.equal(leave?.content.membership, "leave");
      assert.equal(leave?.sender, alice.user_id);
      // The invite is gone: joining now is refused by the room.
      const join = await b.http.call("POST", `${V3}/join/${enc(roomId)}?server_name=${enc(a.name)}`, {}, bea.access_token);
      assert.equal(join.status, 403);
    });
  });
}
