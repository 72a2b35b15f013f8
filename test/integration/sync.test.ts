/**
 * /sync over real HTTP: initial and incremental answers, the long-poll
 * that wakes only for what concerns the user, gaps, invites and leaves,
 * filters, and the errors.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startHomeserver, type RunningServer } from "../../src/homeserver.js";
import { createLogger } from "../../src/logger.js";
import { assertSpecResponse } from "../support/spec.js";
import { testHttp, type Registered } from "../support/http.js";
import { ENGINES, createTestDatabase, postgresUnavailable, type TestDatabase } from "../support/databases.js";

for (const engine of ENGINES) {
  describe(`/sync on ${engine}`, { skip: engine === "postgres" ? postgresUnavailable() : undefined }, () => {
    let db: TestDatabase;
    let server: RunningServer;
    let ann: Registered;
    let ben: Registered;
    let cy: Registered;
    let shared: string;
    let other: string;
    const { call, register } = testHttp(() => server.url);
    const sync = (who: Registered, query = "") => call("GET", `/_matrix/client/v3/sync${query}`, undefined, who.access_token);
    const say = (who: Registered, room: string, body: string) =>
      call("PUT", `/_matrix/client/v3/rooms/${room}/send/m.room.message/${Math.random().toString(36).slice(2)}`, { msgtype: "m.text", body }, who.access_token);
    const bodies = (res: { body: Record<string, any> }, room: string): string[] =>
      (res.body.rooms?.join?.[room]?.timeline?.events ?? []).filter((e: { type: string }) => e.type === "m.room.message").map((e: { content: { body: string } }) => e.content.body);

    before(async () => {
      db = await createTestDatabase(engine);
      server = await startHomeserver(db.config({ server_name: "sync.test", registration: { enabled: true } }), createLogger("warn"));
      ann = await register("ann");
      ben = await register("ben");
      cy = await register("cy");
      shared = (await call("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat", name: "Shared" }, ann.access_token)).body.room_id;
      await call("POST", `/_matrix/client/v3/join/${shared}`, {}, ben.access_token);
      other = (await call("POST", "/_matrix/client/v3/createRoom", { preset: "private_chat", name: "Elsewhere" }, cy.access_token)).body.room_id;
    });
    after(async () => {
      await server?.stop();
      await db?.dispose();
    });

    it("gives an initial sync with the joined room's state and timeline, in the spec's shape", async () => {
      await say(ann, shared, "first");
      const res = await sync(ben);
      assert.equal(res.status, 200);
      assertSpecResponse("client-server", "sync.yaml", "GET", "/sync", 200, res.body);
      const room = res.body.rooms.join[shared];
      assert.ok(room, "the shared room is in rooms.join");
      assert.ok(bodies(res, shared).includes("first"));
      const types = [...room.state.events, ...room.timeline.events].map((e: { type: string }) => e.type);
      for (const t of ["m.room.create", "m.room.name", "m.room.power_levels"]) assert.ok(types.includes(t), t);
      assert.equal(room.timeline.events[0].room_id, undefined, "events in a room section carry no room_id");
      assert.equal(res.body.rooms.join[other], undefined);
      assert.equal(room.summary["m.joined_member_count"], 2);
    });

    it("returns only what is new in an incremental sync, with the sender's transaction id", async () => {
      const s0 = await sync(ann);
      const sent = await call("PUT", `/_matrix/client/v3/rooms/${shared}/send/m.room.message/txn-42`, { msgtype: "m.text", body: "second" }, ann.access_token);
      const s1 = await sync(ann, `?since=${s0.body.next_batch}`);
      assert.deepEqual(bodies(s1, shared), ["second"]);
      const ev = s1.body.rooms.join[shared].timeline.events.find((e: { event_id: string }) => e.event_id === sent.body.event_id);
      assert.equal(ev.unsigned.transaction_id, "txn-42");
      const s1b = await sync(ben, `?since=${s0.body.next_batch}`);
      assert.equal(s1b.body.rooms.join[shared].timeline.events.find((e: { event_id: string }) => e.event_id === sent.body.event_id).unsigned.transaction_id, undefined);
      assert.equal(s1.body.rooms.join[shared].timeline.limited, false);
    });

    it("wakes a long-poll within moments when a message arrives in a shared room", async () => {
      const s0 = await sync(ben);
      const started = Date.now();
      const poll = sync(ben, `?since=${s0.body.next_batch}&timeout=10000`);
      await new Promise((r) => setTimeout(r, 200));
      await say(ann, shared, "wake up");
      const res = await poll;
      const took = Date.now() - started;
      assert.deepEqual(bodies(res, shared), ["wake up"]);
      assert.ok(took < 2000, `woken after ${took} ms`);
    });

    it("does not wake for a room the user is not in, and returns the same token at the timeout", async () => {
      const s0 = await sync(ben);
      const started = Date.now();
      const poll = sync(ben, `?since=${s0.body.next_batch}&timeout=1500`);
      await new Promise((r) => setTimeout(r, 100));
      await say(cy, other, "not for ben");
      const res = await poll;
      const took = Date.now() - started;
      assert.ok(took >= 1400, `returned after ${took} ms`);
      assert.equal(res.body.next_batch, s0.body.next_batch);
      assert.deepEqual(res.body.rooms.join, {});
    });

    it("answers at once with timeout=0", async () => {
      const s0 = await sync(ben);
      const started = Date.now();
      const res = await sync(ben, `?since=${s0.body.next_batch}&timeout=0`);
      assert.equal(res.status, 200);
      assert.ok(Date.now() - started < 1000);
    });

    it("marks a gap as limited with a prev_batch that /messages continues from", async () => {
      const s0 = await sync(ben);
      for (let i = 0; i < 15; i++) await say(ann, shared, `burst ${i}`);
      const res = await sync(ben, `?since=${s0.body.next_batch}&filter=${encodeURIComponent(JSON.stringify({ room: { timeline: { limit: 5 } } }))}`);
      const tl = res.body.rooms.join[shared].timeline;
      assert.equal(tl.limited, true);
      assert.deepEqual(bodies(res, shared), ["burst 10", "burst 11", "burst 12", "burst 13", "burst 14"]);
      const back = await call("GET", `/_matrix/client/v3/rooms/${shared}/messages?dir=b&limit=3&from=${tl.prev_batch}`, undefined, ben.access_token);
      assert.deepEqual(back.body.chunk.map((e: { content: { body: string } }) => e.content.body), ["burst 9", "burst 8", "burst 7"]);
    });

    it("shows an invite with stripped state, then the room as joined, then as left", async () => {
      const dee = await register("dee");
      const s0 = await sync(dee);
      const room = (await call("POST", "/_matrix/client/v3/createRoom", { preset: "private_chat", name: "Secret plans", invite: [dee.user_id] }, ann.access_token)).body.room_id;
      const s1 = await sync(dee, `?since=${s0.body.next_batch}&timeout=5000`);
      const invite = s1.body.rooms.invite[room];
      assert.ok(invite, "rooms.invite has the room");
      const stripped = invite.invite_state.events;
      assert.ok(stripped.some((e: { type: string; content: { name?: string } }) => e.type === "m.room.name" && e.content.name === "Secret plans"));
      assert.ok(stripped.some((e: { type: string; state_key: string }) => e.type === "m.room.member" && e.state_key === dee.user_id));
      await call("POST", `/_matrix/client/v3/join/${room}`, {}, dee.access_token);
      const s2 = await sync(dee, `?since=${s1.body.next_batch}`);
      assert.ok(s2.body.rooms.join[room], "then in rooms.join");
      assert.equal(s2.body.rooms.invite[room], undefined);
      await call("POST", `/_matrix/client/v3/rooms/${room}/leave`, {}, dee.access_token);
      const s3 = await sync(dee, `?since=${s2.body.next_batch}`);
      const left = s3.body.rooms.leave[room];
      assert.ok(left, "then in rooms.leave");
      const last = left.timeline.events.at(-1);
      assert.equal(last.type, "m.room.member");
      assert.equal(last.content.membership, "leave");
    });

    it("applies stored filters: timeline limit, types and lazy-loaded members", async () => {
      const made = await call("POST", `/_matrix/client/v3/user/${ben.user_id}/filter`, {
        room: { timeline: { limit: 2, types: ["m.room.message"] }, state: { lazy_load_members: true } },
      }, ben.access_token);
      assert.equal(made.status, 200);
      const got = await call("GET", `/_matrix/client/v3/user/${ben.user_id}/filter/${made.body.filter_id}`, undefined, ben.access_token);
      assert.deepEqual(got.body.room.timeline.limit, 2);
      const res = await sync(ben, `?filter=${made.body.filter_id}`);
      const room = res.body.rooms.join[shared];
      assert.equal(room.timeline.events.length, 2);
      assert.ok(room.timeline.events.every((e: { type: string }) => e.type === "m.room.message"));
      const members = room.state.events.filter((e: { type: string }) => e.type === "m.room.member").map((e: { state_key: string }) => e.state_key);
      assert.deepEqual(members.sort(), [ann.user_id, ben.user_id].sort(), "only the speakers and the user");
    });

    it("carries account data and typing", async () => {
      const s0 = await sync(ben);
      await call("PUT", `/_matrix/client/v3/user/${ben.user_id}/account_data/org.example.x`, { v: 1 }, ben.access_token);
      await call("PUT", `/_matrix/client/v3/rooms/${shared}/typing/${ann.user_id}`, { typing: true, timeout: 5000 }, ann.access_token);
      const res = await sync(ben, `?since=${s0.body.next_batch}`);
      assert.deepEqual(res.body.account_data.events, [{ type: "org.example.x", content: { v: 1 } }]);
      const typing = res.body.rooms.join[shared].ephemeral.events.find((e: { type: string }) => e.type === "m.typing");
      assert.deepEqual(typing.content.user_ids, [ann.user_id]);
    });

    it("refuses bad filters and tokens, and unknown access tokens", async () => {
      assert.equal((await sync(ben, `?filter=${encodeURIComponent('{"room":{"timeline":{"limit":"ten"}}}')}`)).status, 400);
      assert.equal((await sync(ben, `?filter=${encodeURIComponent("{nope")}`)).status, 400);
      assert.equal((await sync(ben, "?filter=999999")).status, 404);
      assert.equal((await sync(ben, "?since=garbage")).status, 400);
      const bad = await call("GET", "/_matrix/client/v3/sync", undefined, "not-a-token");
      assert.equal(bad.status, 401);
      assert.equal(bad.body.errcode, "M_UNKNOWN_TOKEN");
      const other = await call("POST", `/_matrix/client/v3/user/${ann.user_id}/filter`, {}, ben.access_token);
      assert.equal(other.status, 403);
    });
  });
}
