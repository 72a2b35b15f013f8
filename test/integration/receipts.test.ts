/**
 * Typing, receipts and read markers over real HTTP: only members may set
 * them, receipts never move backwards, private receipts stay private, and
 * each change advances its stream for /sync.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startHomeserver, type RunningServer } from "../../src/homeserver.js";
import { createLogger } from "../../src/logger.js";
import { receiptContent } from "../../src/storage/receipt-store.js";
import { TypingTracker } from "../../src/ephemeral/typing.js";
import { testHttp, type Registered } from "../support/http.js";
import { ENGINES, createTestDatabase, postgresUnavailable, type TestDatabase } from "../support/databases.js";

for (const engine of ENGINES) {
  describe(`typing and receipts on ${engine}`, { skip: engine === "postgres" ? postgresUnavailable() : undefined }, () => {
    let db: TestDatabase;
    let server: RunningServer;
    let ann: Registered;
    let ben: Registered;
    let cat: Registered;
    let roomId: string;
    const msgs: string[] = [];
    const { call, register } = testHttp(() => server.url);

    before(async () => {
      db = await createTestDatabase(engine);
      server = await startHomeserver(db.config({ server_name: "rc.test", registration: { enabled: true } }), createLogger("warn"));
      ann = await register("ann");
      ben = await register("ben");
      cat = await register("cat");
      const hs = server.context;
      roomId = (await hs.localEvents.createRoom(ann.user_id, "10")).event.roomId;
      const send = (sender: string, type: string, content: Record<string, unknown>, stateKey?: string) =>
        hs.localEvents.send(roomId, { type, sender, content: content as never, stateKey });
      await send(ann.user_id, "m.room.member", { membership: "join" }, ann.user_id);
      await send(ann.user_id, "m.room.join_rules", { join_rule: "public" }, "");
      await send(ben.user_id, "m.room.member", { membership: "join" }, ben.user_id);
      for (let i = 0; i < 3; i++) msgs.push((await send(ann.user_id, "m.room.message", { msgtype: "m.text", body: `m${i}` })).event.eventId);
    });
    after(async () => {
      await server?.stop();
      await db?.dispose();
    });

    it("records typing for members only and advances the typing stream", async () => {
      const before = server.context.typing.position;
      const ok = await call("PUT", `/_matrix/client/v3/rooms/${roomId}/typing/${ben.user_id}`, { typing: true, timeout: 5000 }, ben.access_token);
      assert.equal(ok.status, 200);
      const now = server.context.typing.typing(roomId);
      assert.deepEqual(now.userIds, [ben.user_id]);
      assert.ok(now.position > before);
      assert.equal((await call("PUT", `/_matrix/client/v3/rooms/${roomId}/typing/${cat.user_id}`, { typing: true }, cat.access_token)).status, 403);
      assert.equal((await call("PUT", `/_matrix/client/v3/rooms/${roomId}/typing/${ann.user_id}`, { typing: true }, ben.access_token)).status, 403);
      assert.equal((await call("PUT", `/_matrix/client/v3/rooms/${roomId}/typing/${ben.user_id}`, { typing: "yes" }, ben.access_token)).status, 400);
      await call("PUT", `/_matrix/client/v3/rooms/${roomId}/typing/${ben.user_id}`, { typing: false }, ben.access_token);
      assert.deepEqual(server.context.typing.typing(roomId).userIds, []);
    });

    it("stores receipts that only move forward, private ones visible to their owner alone", async () => {
      const store = server.context.receipts;
      const start = store.stream.position;
      assert.equal((await call("POST", `/_matrix/client/v3/rooms/${roomId}/receipt/m.read/${msgs[1]}`, {}, ben.access_token)).status, 200);
      assert.ok(store.stream.position > start);
      // An older event does not move the receipt back.
      await call("POST", `/_matrix/client/v3/rooms/${roomId}/receipt/m.read/${msgs[0]}`, {}, ben.access_token);
      await call("POST", `/_matrix/client/v3/rooms/${roomId}/receipt/m.read.private/${msgs[2]}`, {}, ann.access_token);
      const all = await store.changedSince([roomId], start);
      const forBen = receiptContent(all, ben.user_id);
      assert.deepEqual(Object.keys(forBen), [msgs[1]]);
      assert.ok(forBen[msgs[1]]["m.read"][ben.user_id].ts > 0);
      const forAnn = receiptContent(all, ann.user_id);
      assert.deepEqual(Object.keys(forAnn).sort(), [msgs[1], msgs[2]].sort());
    });

    it("refuses unknown receipt types, unknown events and non-members, changing nothing", async () => {
      const store = server.context.receipts;
      const before = store.stream.position;
      assert.equal((await call("POST", `/_matrix/client/v3/rooms/${roomId}/receipt/m.seen/${msgs[2]}`, {}, ben.access_token)).status, 400);
      assert.equal((await call("POST", `/_matrix/client/v3/rooms/${roomId}/receipt/m.read/$nope`, {}, ben.access_token)).status, 404);
      assert.equal((await call("POST", `/_matrix/client/v3/rooms/${roomId}/receipt/m.read/${msgs[2]}`, {}, cat.access_token)).status, 403);
      assert.equal((await call("POST", `/_matrix/client/v3/rooms/${roomId}/receipt/m.fully_read/${msgs[2]}`, { thread_id: "main" }, ben.access_token)).status, 400);
      assert.equal(store.stream.position, before);
    });

    it("keeps the fully-read marker as room account data and accepts read_markers", async () => {
      const res = await call("POST", `/_matrix/client/v3/rooms/${roomId}/read_markers`, { "m.fully_read": msgs[2], "m.read": msgs[2] }, ben.access_token);
      assert.equal(res.status, 200);
      const marker = await call("GET", `/_matrix/client/v3/user/${ben.user_id}/rooms/${roomId}/account_data/m.fully_read`, undefined, ben.access_token);
      assert.deepEqual(marker.body, { event_id: msgs[2] });
      const receipts = receiptContent(await server.context.receipts.changedSince([roomId], 0), ben.user_id);
      assert.ok(receipts[msgs[2]]["m.read"][ben.user_id]);
    });
  });
}

describe("presence", () => {
  it("sets and reads presence with a status message; others may not set it", async () => {
    const db = await createTestDatabase("sqlite");
    const server = await startHomeserver(db.config({ server_name: "pr.test", registration: { enabled: true } }), createLogger("warn"));
    const { call, register } = testHttp(() => server.url);
    try {
      const a = await register("pa");
      const b = await register("pb");
      const before = server.context.presence.position;
      assert.equal((await call("PUT", `/_matrix/client/v3/presence/${a.user_id}/status`, { presence: "online", status_msg: "here" }, a.access_token)).status, 200);
      const got = await call("GET", `/_matrix/client/v3/presence/${a.user_id}/status`, undefined, b.access_token);
      assert.equal(got.body.presence, "online");
      assert.equal(got.body.status_msg, "here");
      assert.equal(got.body.currently_active, true);
      assert.ok(server.context.presence.position > before);
      assert.equal((await call("PUT", `/_matrix/client/v3/presence/${a.user_id}/status`, { presence: "away" }, a.access_token)).status, 400);
      assert.equal((await call("PUT", `/_matrix/client/v3/presence/${a.user_id}/status`, { presence: "offline" }, b.access_token)).status, 403);
      assert.equal((await call("GET", `/_matrix/client/v3/presence/${b.user_id}/status`, undefined, a.access_token)).body.presence, "offline");
    } finally {
      await server.stop();
      await db.dispose();
    }
  });

  it("sends in /sync the presence of those who share a room, once per change, never of strangers", async () => {
    const db = await createTestDatabase("sqlite");
    const server = await startHomeserver(db.config({ server_name: "pr.test", registration: { enabled: true } }), createLogger("warn"));
    const { call, register } = testHttp(() => server.url);
    try {
      const [a, b, c] = [await register("sa"), await register("sb"), await register("sc")];
      const room = (await call("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" }, a.access_token)).body.room_id;
      assert.equal((await call("POST", `/_matrix/client/v3/join/${room}`, {}, b.access_token)).status, 200);
      const sync = async (token: string, since?: string, filter?: object) => {
        const q = new URLSearchParams({ set_presence: "offline", ...(since ? { since } : {}), ...(filter ? { filter: JSON.stringify(filter) } : {}) });
        const res = await fetch(`${server.url}/_matrix/client/v3/sync?${q}`, { headers: { authorization: `Bearer ${token}` } });
        assert.equal(res.headers.get("content-type"), "application/json");
        return (await res.json()) as { next_batch: string; presence: { events: Array<{ sender: string; content: Record<string, unknown> }> } };
      };
      const start = await sync(a.access_token);
      for (const [who, status] of [[a, "a here"], [b, "b here"], [c, "c here"]] as const) {
        assert.equal((await call("PUT", `/_matrix/client/v3/presence/${who.user_id}/status`, { presence: "online", status_msg: status }, who.access_token)).status, 200);
      }
      const next = await sync(a.access_token, start.next_batch);
      assert.deepEqual(next.presence.events.map((e) => [e.sender, e.content.status_msg, e.content.presence]), [[a.user_id, "a here", "online"], [b.user_id, "b here", "online"]]);
      // Nothing changed since: nothing again.
      assert.deepEqual((await sync(a.access_token, next.next_batch)).presence.events, []);
      // The filter's senders narrow it.
      const narrowed = await sync(a.access_token, start.next_batch, { presence: { senders: [b.user_id] } });
      assert.deepEqual(narrowed.presence.events.map((e) => e.sender), [b.user_id]);
      // A stranger sees only their own.
      assert.deepEqual((await sync(c.access_token)).presence.events.map((e) => e.sender), [c.user_id]);
    } finally {
      await server.stop();
      await db.dispose();
    }
  });
});

describe("TypingTracker expiry", () => {
  it("drops a typist after their timeout and tells listeners", async () => {
    let now = 1_000;
    const t = new TypingTracker(() => now);
    const changes: string[] = [];
    t.listen((room) => changes.push(room));
    t.setTyping("!r", "@u:x", true, 500);
    t.setTyping("!r", "@u:x", true, 500); // a refresh is not a change
    assert.deepEqual(changes, ["!r"]);
    now += 600;
    await new Promise((r) => setTimeout(r, 1100));
    assert.deepEqual(t.typing("!r").userIds, []);
    assert.deepEqual(changes, ["!r", "!r"]);
    t.stop();
  });
});
