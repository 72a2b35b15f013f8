/**
 * Three of our servers share rooms over TLS on loopback: a room made on A
 * is joined from B (by alias) and C (by id); messages, state, typing and
 * receipts flow every way; a remote user is invited and joins; a server
 * that was down gets everything it missed, in order, once it is back.
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
  describe(`three servers sharing rooms on ${engine}`, { skip: engine === "postgres" ? postgresUnavailable() : undefined }, () => {
    let a: FederatedServer;
    let b: FederatedServer;
    let c: FederatedServer;
    let alice: Registered;
    let bob: Registered;
    let carol: Registered;
    let roomId: string;

    /** The message bodies of a room as `who` reads them through /messages, oldest first. */
    const bodies = async (s: FederatedServer, who: Registered, room = roomId): Promise<string[]> => {
      const r = await s.http.call("GET", `${V3}/rooms/${enc(room)}/messages?dir=b&limit=100`, undefined, who.access_token);
      if (r.status !== 200) return [];
      return (r.body.chunk as Array<{ type: string; content: { body?: string } }>)
        .filter((e) => e.type === "m.room.message")
        .map((e) => e.content.body as string)
        .reverse();
    };
    const say = async (s: FederatedServer, who: Registered, text: string, room = roomId) => {
      const r = await s.http.call("PUT", `${V3}/rooms/${enc(room)}/send/m.room.message/${enc(text)}${Date.now()}`, { msgtype: "m.text", body: text }, who.access_token);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.event_id as string;
    };
    const sees = (s: FederatedServer, who: Registered, text: string, room = roomId) =>
      eventually(`${who.user_id} to see "${text}"`, async () => ((await bodies(s, who, room)).includes(text) ? true : undefined));

    before(async () => {
      [a, b, c] = await startFederatedServers(engine, 3);
      alice = await a.http.register("alice");
      bob = await b.http.register("bob");
      carol = await c.http.register("carol");
      await b.http.call("PUT", `${V3}/profile/${enc(bob.user_id)}/displayname`, { displayname: "Bob on B" }, bob.access_token);
    });
    after(async () => stopFederatedServers([a, b, c]));

    it("lets B join by alias and C by id, and shows everyone the same members", async () => {
      const created = await a.http.call("POST", `${V3}/createRoom`, { preset: "public_chat", room_alias_name: "fed", name: "Across servers" }, alice.access_token);
      assert.equal(created.status, 200);
      roomId = created.body.room_id;
      const byAlias = await b.http.call("POST", `${V3}/join/${enc(`#fed:${a.name}`)}`, {}, bob.access_token);
      assert.equal(byAlias.status, 200, JSON.stringify(byAlias.body));
      assert.equal(byAlias.body.room_id, roomId);
      const byId = await c.http.call("POST", `${V3}/join/${enc(roomId)}?via=${enc(a.name)}`, {}, carol.access_token);
      assert.equal(byId.status, 200, JSON.stringify(byId.body));
      // B learns of C's join from A, which took it by send_join and passes it on (C leaves that to A, as Synapse does).
      for (const [s, who] of [[a, alice], [b, bob], [c, carol]] as const) {
        await eventually(`${s.name} to list three members`, async () => {
          const r = await s.http.call("GET", `${V3}/rooms/${enc(roomId)}/joined_members`, undefined, who.access_token);
          return Object.keys(r.body.joined ?? {}).length === 3 ? true : undefined;
        });
      }
      const name = await c.http.call("GET", `${V3}/rooms/${enc(roomId)}/state/m.room.name`, undefined, carol.access_token);
      assert.equal(name.body.name, "Across servers");
    });

    it("carries messages every way, in order", async () => {
      await say(a, alice, "hello from A");
      await sees(b, bob, "hello from A");
      await sees(c, carol, "hello from A");
      await say(b, bob, "hello from B");
      await sees(a, alice, "hello from B");
      await sees(c, carol, "hello from B");
      await say(c, carol, "hello from C");
      await sees(a, alice, "hello from C");
      await sees(b, bob, "hello from C");
      const order = (xs: string[]) => xs.filter((x) => x.startsWith("hello"));
      assert.deepEqual(order(await bodies(a, alice)), ["hello from A", "hello from B", "hello from C"]);
      assert.deepEqual(order(await bodies(b, bob)), order(await bodies(a, alice)));
      assert.deepEqual(order(await bodies(c, carol)), order(await bodies(a, alice)));
    });

    it("carries state changes, and refuses one the rules forbid everywhere", async () => {
      assert.equal((await a.http.call("PUT", `${V3}/rooms/${enc(roomId)}/state/m.room.topic`, { topic: "set on A" }, alice.access_token)).status, 200);
      await eventually("C to see the topic", async () => {
        const r = await c.http.call("GET", `${V3}/rooms/${enc(roomId)}/state/m.room.topic`, undefined, carol.access_token);
        return r.body.topic === "set on A" ? true : undefined;
      });
      // Bob has power 0: his own server refuses his topic change.
      const refused = await b.http.call("PUT", `${V3}/rooms/${enc(roomId)}/state/m.room.topic`, { topic: "by bob" }, bob.access_token);
      assert.equal(refused.status, 403);
    });

    it("carries typing notices and read receipts", async () => {
      const start = (await a.http.call("GET", `${V3}/sync?timeout=0`, undefined, alice.access_token)).body.next_batch;
      await b.http.call("PUT", `${V3}/rooms/${enc(roomId)}/typing/${enc(bob.user_id)}`, { typing: true, timeout: 10_000 }, bob.access_token);
      await eventually("alice to see bob typing", async () => {
        const r = await a.http.call("GET", `${V3}/sync?timeout=0&since=${enc(start)}`, undefined, alice.access_token);
        const ephemeral = r.body.rooms?.join?.[roomId]?.ephemeral?.events ?? [];
        return ephemeral.some((e: { type: string; content: { user_ids: string[] } }) => e.type === "m.typing" && e.content.user_ids.includes(bob.user_id)) ? true : undefined;
      });
      const target = await say(a, alice, "read me");
      await sees(c, carol, "read me");
      assert.equal((await c.http.call("POST", `${V3}/rooms/${enc(roomId)}/receipt/m.read/${enc(target)}`, {}, carol.access_token)).status, 200);
      await eventually("alice to see carol's receipt", async () => {
        const r = await a.http.call("GET", `${V3}/sync?timeout=0&since=${enc(start)}`, undefined, alice.access_token);
        const ephemeral = r.body.rooms?.join?.[roomId]?.ephemeral?.events ?? [];
        return ephemeral.some((e: { type: string; content: Record<string, { "m.read"?: Record<string, unknown> }> }) =>
          e.type === "m.receipt" && e.content[target]?.["m.read"]?.[carol.user_id] !== undefined) ? true : undefined;
      });
    });

    it("carries presence, and wakes a waiting sync with it", async () => {
      let since = (await a.http.call("GET", `${V3}/sync?timeout=0`, undefined, alice.access_token)).body.next_batch;
      // Long-polls on A with a 20 s timeout: only bob's presence (from B) can answer them all within 15 s.
      const first = a.http.call("GET", `${V3}/sync?timeout=20000&since=${enc(since)}`, undefined, alice.access_token);
      const began = Date.now();
      const set = await b.http.call("PUT", `${V3}/presence/${enc(bob.user_id)}/status`, { presence: "unavailable", status_msg: "at lunch" }, bob.access_token);
      assert.equal(set.status, 200);
      let got: { content: { presence: string; status_msg?: string } } | undefined;
      for (let poll = first; !got && Date.now() - began < 15_000;) {
        const r = await poll;
        got = (r.body.presence?.events ?? []).find((e: { sender: string }) => e.sender === bob.user_id);
        since = r.body.next_batch;
        poll = a.http.call("GET", `${V3}/sync?timeout=20000&since=${enc(since)}`, undefined, alice.access_token);
        if (got) void poll.catch(() => {});
      }
      assert.ok(got, "bob's presence reached alice's sync within 15 s");
      assert.equal(got.content.presence, "unavailable");
      assert.equal(got.content.status_msg, "at lunch");
      const direct = await a.http.call("GET", `${V3}/presence/${enc(bob.user_id)}/status`, undefined, alice.access_token);
      assert.equal(direct.body.presence, "unavailable");
    });

    it("reads a remote profile", async () => {
      const p = await a.http.call("GET", `${V3}/profile/${enc(bob.user_id)}`, undefined, alice.access_token);
      assert.equal(p.status, 200);
      assert.equal(p.body.displayname, "Bob on B");
    });

    it("invites a user of another server, who sees the invite and joins", async () => {
      const dave = await c.http.register("dave");
      const created = await a.http.call("POST", `${V3}/createRoom`, { preset: "private_chat", name: "Private", invite: [dave.user_id] }, alice.access_token);
      assert.equal(created.status, 200, JSON.stringify(created.body));
      const privateRoom = created.body.room_id;
      await eventually("dave to see the invite", async () => {
        const r = await c.http.call("GET", `${V3}/sync?timeout=0`, undefined, dave.access_token);
        const inv = r.body.rooms?.invite?.[privateRoom];
        return inv && inv.invite_state.events.some((e: { type: string; content: { name?: string } }) => e.type === "m.room.name" && e.content.name === "Private") ? true : undefined;
      });
      const joined = await c.http.call("POST", `${V3}/rooms/${enc(privateRoom)}/join`, {}, dave.access_token);
      assert.equal(joined.status, 200, JSON.stringify(joined.body));
      await say(c, dave, "dave is here", privateRoom);
      await sees(a, alice, "dave is here", privateRoom);
    });

    it("lists another server's public rooms, and vouches for a user with an OpenID token", async () => {
      assert.equal((await a.http.call("PUT", `${V3}/directory/list/room/${enc(roomId)}`, { visibility: "public" }, alice.access_token)).status, 200);
      const list = await b.http.call("GET", `${V3}/publicRooms?server=${enc(a.name)}`, undefined, bob.access_token);
      assert.equal(list.status, 200, JSON.stringify(list.body));
      assert.ok(list.body.chunk.some((r: { room_id: string; name?: string }) => r.room_id === roomId && r.name === "Across servers"));
      const alias = await b.http.call("GET", `${V3}/directory/room/${enc(`#fed:${a.name}`)}`, undefined, bob.access_token);
      assert.equal(alias.body.room_id, roomId);
      assert.ok(alias.body.servers.includes(a.name));
      const token = await b.http.call("POST", `${V3}/user/${enc(bob.user_id)}/openid/request_token`, {}, bob.access_token);
      assert.equal(token.body.matrix_server_name, b.name);
      const info = await a.server.federation.client.request(b.name, "GET", "/_matrix/federation/v1/openid/userinfo", { query: { access_token: token.body.access_token }, unsigned: true });
      assert.deepEqual(info, { sub: bob.user_id });
      await assert.rejects(a.server.federation.client.request(b.name, "GET", "/_matrix/federation/v1/openid/userinfo", { query: { access_token: "nope" }, unsigned: true }));
    });

    it("lets a user of another server knock, and be let in", async () => {
      const erin = await c.http.register("erin");
      const created = await a.http.call("POST", `${V3}/createRoom`, { preset: "private_chat", name: "Knock here", initial_state: [{ type: "m.room.join_rules", state_key: "", content: { join_rule: "knock" } }] }, alice.access_token);
      const knockRoom = created.body.room_id as string;
      const knocked = await c.http.call("POST", `${V3}/knock/${enc(knockRoom)}?via=${enc(a.name)}`, { reason: "let me in" }, erin.access_token);
      assert.equal(knocked.status, 200, JSON.stringify(knocked.body));
      const sync = await c.http.call("GET", `${V3}/sync?timeout=0`, undefined, erin.access_token);
      assert.ok(sync.body.rooms.knock[knockRoom], "erin sees her knock");
      await eventually("alice to see the knock", async () => {
        const r = await a.http.call("GET", `${V3}/rooms/${enc(knockRoom)}/state/m.room.member/${enc(erin.user_id)}`, undefined, alice.access_token);
        return r.body.membership === "knock" ? true : undefined;
      });
      assert.equal((await a.http.call("POST", `${V3}/rooms/${enc(knockRoom)}/invite`, { user_id: erin.user_id }, alice.access_token)).status, 200);
      await eventually("erin to be invited", async () => {
        const r = await c.http.call("GET", `${V3}/sync?timeout=0`, undefined, erin.access_token);
        return r.body.rooms?.invite?.[knockRoom] ? true : undefined;
      });
      const joined = await c.http.call("POST", `${V3}/rooms/${enc(knockRoom)}/join`, {}, erin.access_token);
      assert.equal(joined.status, 200, JSON.stringify(joined.body));
    });

    it("lets a member of an allowed room join a restricted room through another server", async () => {
      const created = await a.http.call("POST", `${V3}/createRoom`, {
        preset: "private_chat",
        name: "Members of the space only",
        initial_state: [{ type: "m.room.join_rules", state_key: "", content: { join_rule: "restricted", allow: [{ type: "m.room_membership", room_id: roomId }] } }],
      }, alice.access_token);
      const restricted = created.body.room_id as string;
      // Bob (in the allowed room) may join; dave (not in it) may not.
      const ok = await b.http.call("POST", `${V3}/join/${enc(restricted)}?via=${enc(a.name)}`, {}, bob.access_token);
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      const member = await a.http.call("GET", `${V3}/rooms/${enc(restricted)}/state/m.room.member/${enc(bob.user_id)}`, undefined, alice.access_token);
      assert.equal(member.body.join_authorised_via_users_server, alice.user_id);
      const outsider = await c.http.register("frank");
      const refused = await c.http.call("POST", `${V3}/join/${enc(restricted)}?via=${enc(a.name)}`, {}, outsider.access_token);
      assert.equal(refused.status, 400);
      assert.equal(refused.body.errcode, "M_UNABLE_TO_AUTHORISE_JOIN");
    });

    it("backfills history from before the join when a joiner paginates back", async () => {
      const created = await a.http.call("POST", `${V3}/createRoom`, { preset: "public_chat", name: "History" }, alice.access_token);
      const historyRoom = created.body.room_id as string;
      for (let i = 1; i <= 6; i++) await say(a, alice, `history ${i}`, historyRoom);
      const joined = await b.http.call("POST", `${V3}/join/${enc(historyRoom)}?via=${enc(a.name)}`, {}, bob.access_token);
      assert.equal(joined.status, 200);
      const got = (await bodies(b, bob, historyRoom)).filter((x) => x.startsWith("history"));
      assert.deepEqual(got, ["history 1", "history 2", "history 3", "history 4", "history 5", "history 6"]);
      // The room's creation is there too, at the very start.
      const all = await b.http.call("GET", `${V3}/rooms/${enc(historyRoom)}/messages?dir=b&limit=100`, undefined, bob.access_token);
      const types = (all.body.chunk as Array<{ type: string }>).map((e) => e.type);
      assert.equal(types[types.length - 1], "m.room.create", types.join(" "));
      // Backfilled history is indexed like any other: bob's own server finds it.
      const found = await b.http.call("POST", `${V3}/search`, { search_categories: { room_events: { search_term: "history", filter: { rooms: [historyRoom] } } } }, bob.access_token);
      assert.equal(found.status, 200);
      const results = found.body.search_categories.room_events.results as Array<{ result: { type: string; content: { body?: string; name?: string } } }>;
      assert.ok(results.some((r) => r.result.type === "m.room.name" && r.result.content.name === "History"), "the room's name, too");
      const hits = results.filter((r) => r.result.type === "m.room.message").map((r) => r.result.content.body).sort();
      assert.deepEqual(hits, ["history 1", "history 2", "history 3", "history 4", "history 5", "history 6"]);
    });

    it("delivers everything a server missed while down, in order, once it is back", async () => {
      await c.server.stop();
      for (const text of ["while C was down 1", "while C was down 2", "while C was down 3"]) await say(a, alice, text);
      await c.restart();
      await sees(c, carol, "while C was down 3", roomId);
      const got = (await bodies(c, carol)).filter((x) => x.startsWith("while C"));
      assert.deepEqual(got, ["while C was down 1", "while C was down 2", "while C was down 3"]);
    });

    it("keeps what it had queued across its own restart, and delivers it once the peer is back", async () => {
      await c.server.stop();
      for (const text of ["queued 1", "queued 2"]) await say(a, alice, text);
      // The sender's queue is in its database: a restart of A while C is still down forgets nothing.
      await a.restart();
      const queued = await a.server.context.db.knex("federation_outbox").where({ destination: c.name }).count({ n: "*" }).first();
      assert.ok(Number(queued?.n) >= 2, `A still holds what C has not received (${queued?.n})`);
      await c.restart();
      // A learns C is back when C next talks to it (C's own queue, or its first request), or when A's backoff expires.
      await say(c, carol, "C is back");
      await sees(c, carol, "queued 2", roomId);
      const got = (await bodies(c, carol)).filter((x) => x.startsWith("queued"));
      assert.deepEqual(got, ["queued 1", "queued 2"]);
    });
  });
}
