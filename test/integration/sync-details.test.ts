/**
 * /sync in more detail than sync.test.ts, over real HTTP on every
 * database: the notifier's bookkeeping during a long-poll, the state of a
 * gap, stripped invite state, include_leave, room and event_fields
 * filters, lazy loading against the unfiltered answer, stored filters
 * read back, and the refusals of the filter endpoints.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startHomeserver, type RunningServer } from "../../src/homeserver.js";
import { createLogger } from "../../src/logger.js";
import { assertSpecResponse } from "../support/spec.js";
import { testHttp, type Registered } from "../support/http.js";
import { ENGINES, createTestDatabase, postgresUnavailable, type TestDatabase } from "../support/databases.js";

const V3 = "/_matrix/client/v3";

for (const engine of ENGINES) {
  describe(`/sync details on ${engine}`, { skip: engine === "postgres" ? postgresUnavailable() : undefined }, () => {
    let db: TestDatabase;
    let server: RunningServer;
    const { call, register } = testHttp(() => server.url);
    let alice: Registered;
    let bob: Registered;
    let carol: Registered;
    let txn = 0;

    const sync = async (who: Registered, query = "") => {
      const res = await call("GET", `${V3}/sync${query ? `?${query}` : ""}`, undefined, who.access_token);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body;
    };
    const createRoom = async (who: Registered, body: Record<string, unknown> = {}) => {
      const res = await call("POST", `${V3}/createRoom`, body, who.access_token);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body.room_id as string;
    };
    const send = async (who: Registered, roomId: string, body: string) => {
      const res = await call("PUT", `${V3}/rooms/${encodeURIComponent(roomId)}/send/m.room.message/t${++txn}`, { msgtype: "m.text", body }, who.access_token);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body.event_id as string;
    };
    const join = async (who: Registered, roomId: string) => {
      const res = await call("POST", `${V3}/join/${encodeURIComponent(roomId)}`, {}, who.access_token);
      assert.equal(res.status, 200, JSON.stringify(res.body));
    };
    const filterParam = (f: unknown) => `filter=${encodeURIComponent(JSON.stringify(f))}`;
    const bodies = (room: any) => room.timeline.events.filter((e: any) => e.type === "m.room.message").map((e: any) => e.content.body);

    before(async () => {
      db = await createTestDatabase(engine);
      server = await startHomeserver(db.config({ server_name: "syncd.test", registration: { enabled: true } }), createLogger("warn"));
      alice = await register("alice");
      bob = await register("bob");
      carol = await register("carol");
    });
    after(async () => {
      await server?.stop();
      await db?.dispose();
    });

    it("initial state is the state at the timeline's start, and the next_batch is a /messages token", async () => {
      const roomId = await createRoom(alice, { preset: "public_chat", name: "Initial" });
      await send(alice, roomId, "hello");
      const body = await sync(alice, filterParam({ room: { rooms: [roomId] } }));
      assert.match(body.next_batch, /^s\d+/);
      const room = body.rooms.join[roomId];
      const tlIds = new Set(room.timeline.events.map((e: any) => e.event_id));
      assert.ok(room.state.events.every((e: any) => !tlIds.has(e.event_id)), "no event in both state and timeline");
      assert.ok([...room.state.events, ...room.timeline.events].some((e: any) => e.type === "m.room.create"));
      assert.deepEqual(room.unread_notifications, { notification_count: 0, highlight_count: 0 });
      assert.deepEqual(body.to_device, { events: [] });
      assert.deepEqual(body.device_lists, { changed: [], left: [] });
      await send(alice, roomId, "later");
      const back = await call("GET", `${V3}/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=1&from=${body.next_batch}`, undefined, alice.access_token);
      assert.equal(back.status, 200, JSON.stringify(back.body));
      assert.deepEqual(back.body.chunk.map((e: any) => e.content.body), ["hello"], "the token stands after the last event the sync saw");
      const quiet = await sync(alice, `since=${(await sync(alice)).next_batch}`);
      assert.deepEqual(quiet.rooms.join, {}, "nothing new: no rooms");
    });

    it("a waiting long-poll sits on the notifier, and is released by a send to a shared room", async () => {
      const shared = await createRoom(alice, { preset: "public_chat" });
      await join(bob, shared);
      const other = await createRoom(carol);
      const start = await sync(bob);
      const waitingBefore = server.context.notifier.waiting;
      const poll = call("GET", `${V3}/sync?since=${start.next_batch}&timeout=10000`, undefined, bob.access_token);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(server.context.notifier.waiting, waitingBefore + 1, "one waiter for the idle request");
      await send(carol, other, "not for bob");
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(server.context.notifier.waiting, waitingBefore + 1, "still waiting after a send elsewhere");
      const sentAt = Date.now();
      await send(alice, shared, "wake up");
      const res = await poll;
      assert.ok(Date.now() - sentAt < 1000, `returned ${Date.now() - sentAt} ms after the send`);
      assert.deepEqual(bodies(res.body.rooms.join[shared]), ["wake up"]);
      assert.equal(res.body.rooms.join[other], undefined);
      assert.equal(server.context.notifier.waiting, waitingBefore, "the waiter is gone");
    });

    it("a long-poll wakes for an invite and for the user's own leave", async () => {
      const roomId = await createRoom(alice, { preset: "public_chat" });
      const s0 = await sync(carol);
      const poll = call("GET", `${V3}/sync?since=${s0.next_batch}&timeout=10000`, undefined, carol.access_token);
      await new Promise((r) => setTimeout(r, 150));
      const t0 = Date.now();
      await call("POST", `${V3}/rooms/${encodeURIComponent(roomId)}/invite`, { user_id: carol.user_id }, alice.access_token);
      const res = await poll;
      assert.ok(Date.now() - t0 < 1000);
      assert.ok(res.body.rooms.invite[roomId]);
      await join(carol, roomId);
      const s1 = await sync(carol);
      const poll2 = call("GET", `${V3}/sync?since=${s1.next_batch}&timeout=10000`, undefined, carol.access_token);
      await new Promise((r) => setTimeout(r, 150));
      const t1 = Date.now();
      // Kicked: the room's other member sends the event, and the target is woken.
      await call("POST", `${V3}/rooms/${encodeURIComponent(roomId)}/kick`, { user_id: carol.user_id }, alice.access_token);
      const res2 = await poll2;
      assert.ok(Date.now() - t1 < 1000);
      assert.ok(res2.body.rooms.leave[roomId], "the kick shows as a leave");
    });

    it("a membership change that is not a join (a new displayname) does not resend the room from scratch", async () => {
      const roomId = await createRoom(alice, { preset: "public_chat" });
      await send(alice, roomId, "old");
      const start = await sync(alice);
      const renamed = await call("PUT", `${V3}/profile/${encodeURIComponent(alice.user_id)}/displayname`, { displayname: "Alice A." }, alice.access_token);
      assert.equal(renamed.status, 200);
      await send(alice, roomId, "new");
      const res = await sync(alice, `since=${start.next_batch}`);
      const room = res.rooms.join[roomId];
      assert.deepEqual(bodies(room), ["new"], "only the new message");
      assert.equal(room.timeline.limited, false);
      assert.ok(room.timeline.events.some((e: any) => e.type === "m.room.member" && e.content.displayname === "Alice A."));
      assert.ok(!room.state.events.some((e: any) => e.type === "m.room.create"), "no full state");
    });

    it("a client that hangs up mid-poll leaves nothing waiting", async () => {
      const start = await sync(bob);
      const waitingBefore = server.context.notifier.waiting;
      const ac = new AbortController();
      const poll = fetch(`${server.url}${V3}/sync?since=${start.next_batch}&timeout=30000`, {
        headers: { authorization: `Bearer ${bob.access_token}` }, signal: ac.signal,
      }).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(server.context.notifier.waiting, waitingBefore + 1);
      ac.abort();
      await poll;
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(server.context.notifier.waiting, waitingBefore, "the waiter and its timer are released");
    });

    it("full_state on an incremental sync: the whole state, but only the new events in the timeline", async () => {
      const roomId = await createRoom(alice, { preset: "public_chat", name: "Full" });
      await send(alice, roomId, "old");
      const start = await sync(alice);
      await send(alice, roomId, "new");
      const res = await sync(alice, `since=${start.next_batch}&full_state=true&${filterParam({ room: { rooms: [roomId] } })}`);
      const room = res.rooms.join[roomId];
      assert.deepEqual(bodies(room), ["new"]);
      assert.ok(room.state.events.some((e: any) => e.type === "m.room.create"));
      assert.ok(room.state.events.some((e: any) => e.type === "m.room.name"));
      // Rooms without news are there too with full_state.
      const quiet = await sync(alice, `since=${res.next_batch}&full_state=true&${filterParam({ room: { rooms: [roomId] } })}`);
      assert.deepEqual(quiet.rooms.join[roomId].timeline.events, []);
      assert.ok(quiet.rooms.join[roomId].state.events.some((e: any) => e.type === "m.room.create"));
    });

    it("a busy room does not crowd a quiet one out of an incremental sync", async () => {
      const busy = await createRoom(alice);
      const quiet = await createRoom(alice);
      const start = await sync(alice);
      await send(alice, quiet, "the only one");
      for (let i = 0; i < 25; i++) await send(alice, busy, `b${i}`);
      const res = await sync(alice, `since=${start.next_batch}&${filterParam({ room: { timeline: { limit: 3 } } })}`);
      assert.deepEqual(bodies(res.rooms.join[quiet]), ["the only one"]);
      assert.equal(res.rooms.join[quiet].timeline.limited, false);
      assert.deepEqual(bodies(res.rooms.join[busy]), ["b22", "b23", "b24"]);
      assert.equal(res.rooms.join[busy].timeline.limited, true);
    });

    it("a gap carries the state that changed in it", async () => {
      const roomId = await createRoom(alice, { name: "before" });
      const start = await sync(alice);
      const rename = await call("PUT", `${V3}/rooms/${encodeURIComponent(roomId)}/state/m.room.name`, { name: "during" }, alice.access_token);
      assert.equal(rename.status, 200);
      for (let i = 0; i < 15; i++) await send(alice, roomId, `m${i}`);
      const res = await sync(alice, `since=${start.next_batch}`);
      const room = res.rooms.join[roomId];
      assert.equal(room.timeline.limited, true);
      assert.deepEqual(bodies(room), Array.from({ length: 10 }, (_, i) => `m${i + 5}`), "the default limit is 10");
      assert.ok(room.state.events.some((e: any) => e.type === "m.room.name" && e.content.name === "during"));
      assert.ok(!room.state.events.some((e: any) => e.type === "m.room.create"), "only what changed, not the whole state");
    });

    it("invite state is stripped; left rooms need include_leave on an initial sync", async () => {
      const roomId = await createRoom(alice, { name: "Invited", preset: "private_chat" });
      const start = await sync(bob);
      await call("POST", `${V3}/rooms/${encodeURIComponent(roomId)}/invite`, { user_id: bob.user_id }, alice.access_token);
      const res = await sync(bob, `since=${start.next_batch}`);
      assertSpecResponse("client-server", "sync.yaml", "GET", "/sync", 200, res);
      const stripped = res.rooms.invite[roomId].invite_state.events;
      const types = stripped.map((e: any) => e.type);
      for (const t of ["m.room.create", "m.room.join_rules", "m.room.name", "m.room.member"]) assert.ok(types.includes(t), t);
      // Stripped, but for the create event, which goes whole (MSC4311, Matrix 1.16).
      for (const e of stripped) {
        if (e.type === "m.room.create") assert.ok(e.origin_server_ts && e.signatures && e.hashes, "the create event whole");
        else assert.deepEqual(Object.keys(e).sort(), ["content", "sender", "state_key", "type"]);
      }
      assert.equal(res.rooms.join[roomId], undefined);
      await join(bob, roomId);
      const joined = await sync(bob, `since=${res.next_batch}`);
      const all = [...joined.rooms.join[roomId].state.events, ...joined.rooms.join[roomId].timeline.events];
      assert.ok(all.some((e: any) => e.type === "m.room.create"), "a newly joined room gets its full state");

      await send(alice, roomId, "before leaving");
      await call("POST", `${V3}/rooms/${encodeURIComponent(roomId)}/leave`, {}, bob.access_token);
      await send(alice, roomId, "after leaving");
      const left = await sync(bob, `since=${joined.next_batch}`);
      assert.deepEqual(bodies(left.rooms.leave[roomId]), ["before leaving"], "nothing after the leave");
      assert.equal((await sync(bob)).rooms.leave[roomId], undefined);
      assert.ok((await sync(bob, filterParam({ room: { include_leave: true } }))).rooms.leave[roomId]);
    });

    it("room, types, limit, lazy-loading and event_fields filters", async () => {
      const roomId = await createRoom(alice, { preset: "public_chat" });
      await join(bob, roomId);
      await join(carol, roomId);
      for (const b of ["a1", "a2", "a3"]) await send(alice, roomId, b);
      const limited = await sync(alice, filterParam({ room: { rooms: [roomId], timeline: { limit: 2 } } }));
      assert.deepEqual(Object.keys(limited.rooms.join), [roomId], "room.rooms");
      assert.deepEqual(bodies(limited.rooms.join[roomId]), ["a2", "a3"]);
      assert.equal(limited.rooms.join[roomId].timeline.limited, true);
      const notRooms = await sync(alice, filterParam({ room: { not_rooms: [roomId] } }));
      assert.equal(notRooms.rooms.join[roomId], undefined, "room.not_rooms");
      const notTypes = await sync(alice, filterParam({ room: { rooms: [roomId], timeline: { not_types: ["m.room.message"] } } }));
      assert.ok(notTypes.rooms.join[roomId].timeline.events.every((e: any) => e.type !== "m.room.message"));
      const lazy = await sync(bob, filterParam({ room: { rooms: [roomId], timeline: { limit: 3 }, state: { lazy_load_members: true } } }));
      const members = lazy.rooms.join[roomId].state.events.filter((e: any) => e.type === "m.room.member").map((e: any) => e.state_key).sort();
      assert.deepEqual(members, [alice.user_id, bob.user_id].sort());
      const eager = await sync(bob, filterParam({ room: { rooms: [roomId], timeline: { limit: 3 } } }));
      assert.ok(eager.rooms.join[roomId].state.events.some((e: any) => e.type === "m.room.member" && e.state_key === carol.user_id));
      const fields = await sync(alice, filterParam({ event_fields: ["type", "content.body"], room: { rooms: [roomId], timeline: { limit: 1 } } }));
      assert.deepEqual(fields.rooms.join[roomId].timeline.events, [{ type: "m.room.message", content: { body: "a3" } }]);
    });

    it("stored filters round-trip; the filter endpoints refuse wrong shapes and other users", async () => {
      const filter = { room: { timeline: { limit: 1 } }, event_fields: ["type"] };
      const made = await call("POST", `${V3}/user/${encodeURIComponent(alice.user_id)}/filter`, filter, alice.access_token);
      assert.equal(made.status, 200);
      assert.equal(typeof made.body.filter_id, "string");
      const got = await call("GET", `${V3}/user/${encodeURIComponent(alice.user_id)}/filter/${made.body.filter_id}`, undefined, alice.access_token);
      assert.deepEqual(got.body, filter);
      for (const bad of [{ room: { timeline: { limit: "ten" } } }, { event_fields: "type" }, { room: { rooms: "x" } }, { room: { state: { lazy_load_members: "yes" } } }]) {
        const res = await call("POST", `${V3}/user/${encodeURIComponent(alice.user_id)}/filter`, bad, alice.access_token);
        assert.equal(res.status, 400, JSON.stringify(bad));
        assert.equal(res.body.errcode, "M_BAD_JSON");
      }
      assert.equal((await call("POST", `${V3}/user/${encodeURIComponent(bob.user_id)}/filter`, {}, alice.access_token)).status, 403);
      assert.equal((await call("GET", `${V3}/user/${encodeURIComponent(alice.user_id)}/filter/${made.body.filter_id}`, undefined, bob.access_token)).status, 403);
      assert.equal((await call("GET", `${V3}/user/${encodeURIComponent(alice.user_id)}/filter/999999`, undefined, alice.access_token)).status, 404);
      assert.equal((await call("GET", `${V3}/sync`)).status, 401);
    });
  });
}
