/**
 * Concurrent conflicting state on two servers: while A and B cannot hear
 * each other, A's admin demotes B's moderator and B's moderator bans a
 * user of C. When delivery resumes every server merges the fork with state
 * resolution and all three agree: the demotion wins (the admin's power
 * orders first), so the ban does not stand.
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
  describe(`conflicting state across servers on ${engine}`, { skip: engine === "postgres" ? postgresUnavailable() : undefined }, () => {
    let servers: FederatedServer[];
    before(async () => {
      servers = await startFederatedServers(engine, 3);
    });
    after(async () => stopFederatedServers(servers));

    it("resolves a ban racing a power-level change to the same state everywhere", { timeout: 60_000 }, async () => {
      const [a, b, c] = servers;
      const alice = await a.http.register("alice");
      const bob = await b.http.register("bob");
      const carol = await c.http.register("carol");
      const roomId = (await a.http.call("POST", `${V3}/createRoom`, { preset: "public_chat" }, alice.access_token)).body.room_id as string;
      for (const [s, who] of [[b, bob], [c, carol]] as Array<[FederatedServer, Registered]>) {
        const r = await s.http.call("POST", `${V3}/join/${enc(roomId)}?via=${enc(a.name)}`, {}, who.access_token);
        assert.equal(r.status, 200, JSON.stringify(r.body));
      }
      const pl = (await a.http.call("GET", `${V3}/rooms/${enc(roomId)}/state/m.room.power_levels`, undefined, alice.access_token)).body;
      const promoted = { ...pl, users: { ...pl.users, [bob.user_id]: 50 } };
      assert.equal((await a.http.call("PUT", `${V3}/rooms/${enc(roomId)}/state/m.room.power_levels`, promoted, alice.access_token)).status, 200);
      await eventually("B to see bob promoted", async () => {
        const r = await b.http.call("GET", `${V3}/rooms/${enc(roomId)}/state/m.room.power_levels`, undefined, bob.access_token);
        return r.body.users?.[bob.user_id] === 50 ? true : undefined;
      });
      await eventually("B to see carol joined", async () => {
        const r = await b.http.call("GET", `${V3}/rooms/${enc(roomId)}/joined_members`, undefined, bob.access_token);
        return r.body.joined?.[carol.user_id] ? true : undefined;
      });

      // A and B stop sending: each acts without seeing the other.
      a.server.federation.sender.pause();
      b.server.federation.sender.pause();
      const demoted = { ...promoted, users: { ...promoted.users, [bob.user_id]: 0 } };
      assert.equal((await a.http.call("PUT", `${V3}/rooms/${enc(roomId)}/state/m.room.power_levels`, demoted, alice.access_token)).status, 200);
      const ban = await b.http.call("POST", `${V3}/rooms/${enc(roomId)}/ban`, { user_id: carol.user_id, reason: "racing" }, bob.access_token);
      assert.equal(ban.status, 200, "bob may still ban on his side of the fork");
      a.server.federation.sender.resume();
      b.server.federation.sender.resume();

      const view = async (s: FederatedServer, who: Registered) => {
        const r = await s.http.call("GET", `${V3}/rooms/${enc(roomId)}/state`, undefined, who.access_token);
        const state = r.body as Array<{ type: string; state_key: string; event_id: string; content: Record<string, any> }>;
        const plEvent = state.find((e) => e.type === "m.room.power_levels")!;
        const carolMember = state.find((e) => e.type === "m.room.member" && e.state_key === carol.user_id)!;
        return { pl: plEvent.event_id, bobPower: plEvent.content.users?.[bob.user_id], carol: carolMember.content.membership, carolEvent: carolMember.event_id };
      };
      // Converged: every server shows the demotion and carol still joined, by the same events.
      const expected = await eventually("A to converge", async () => {
        const v = await view(a, alice);
        return v.bobPower === 0 ? v : undefined;
      });
      assert.equal(expected.carol, "join");
      for (const [s, who] of [[b, bob], [c, carol]] as Array<[FederatedServer, Registered]>) {
        await eventually(`${s.name} to converge`, async () => {
          const v = await view(s, who);
          return JSON.stringify(v) === JSON.stringify(expected) ? true : undefined;
        });
      }
      // And the room goes on: a message after the merge reaches everyone.
      await a.http.call("PUT", `${V3}/rooms/${enc(roomId)}/send/m.room.message/after`, { msgtype: "m.text", body: "after the merge" }, alice.access_token);
      await eventually("carol to read after the merge", async () => {
        const r = await c.http.call("GET", `${V3}/rooms/${enc(roomId)}/messages?dir=b&limit=5`, undefined, carol.access_token);
        return (r.body.chunk ?? []).some((e: { content: { body?: string } }) => e.content.body === "after the merge") ? true : undefined;
      });
    });
  });
}
