/**
 * Rooms over real HTTP on both databases: createRoom presets and options,
 * membership transitions and their refusals, idempotent sends, state,
 * redaction, /messages pagination, history visibility, member filters,
 * and malformed requests that must change nothing.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startHomeserver, type RunningServer } from "../../src/homeserver.js";
import { createLogger } from "../../src/logger.js";
import { assertSpecResponse } from "../support/spec.js";
import { ENGINES, createTestDatabase, postgresUnavailable, type TestDatabase } from "../support/databases.js";

interface Reply {
  status: number;
  body: any;
}

const V3 = "/_matrix/client/v3";

for (const engine of ENGINES) {
  describe(`rooms on ${engine}`, { skip: engine === "postgres" ? postgresUnavailable() : undefined }, () => {
    let db: TestDatabase;
    let server: RunningServer;
    const tokens: Record<string, string> = {};
    const id = (name: string) => `@${name}:rooms.test`;
    let txn = 0;

    const raw = async (method: string, path: string, body: string | undefined, token?: string): Promise<Reply> => {
      const headers: Record<string, string> = {};
      if (token) headers.authorization = `Bearer ${token}`;
      if (body !== undefined) headers["content-type"] = "application/json";
      const res = await fetch(`${server.url}${path}`, { method, headers, body });
      return { status: res.status, body: await res.json() };
    };
    const call = (method: string, path: string, body?: unknown, token?: string) =>
      raw(method, path, body === undefined ? undefined : JSON.stringify(body), token);
    const as = (user: string) => ({
      get: (path: string) => call("GET", `${V3}${path}`, undefined, tokens[user]),
      post: (path: string, body: unknown = {}) => call("POST", `${V3}${path}`, body, tokens[user]),
      put: (path: string, body: unknown) => call("PUT", `${V3}${path}`, body, tokens[user]),
      raw: (method: string, path: string, body: string) => raw(method, `${V3}${path}`, body, tokens[user]),
    });
    const register = async (username: string) => {
      const first = await call("POST", `${V3}/register`, { username, password: `pw-${username}` });
      const done = await call("POST", `${V3}/register`, { username, password: `pw-${username}`, auth: { type: "m.login.dummy", session: first.body.session } });
      assert.equal(done.status, 200, JSON.stringify(done.body));
      tokens[username] = done.body.access_token;
    };
    const createRoom = async (user: string, body: unknown = {}): Promise<string> => {
      const res = await as(user).post("/createRoom", body);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assertSpecResponse("client-server", "create_room.yaml", "POST", "/createRoom", 200, res.body);
      return res.body.room_id;
    };
    const e = encodeURIComponent;
    const send = async (user: string, roomId: string, body: string) => {
      const res = await as(user).put(`/rooms/${e(roomId)}/send/m.room.message/t${++txn}`, { msgtype: "m.text", body });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body.event_id as string;
    };
    const stateOf = async (user: string, roomId: string) => {
      const res = await as(user).get(`/rooms/${e(roomId)}/state`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body as any[];
    };
    const stateContent = (state: any[], type: string, key = "") => state.find((ev) => ev.type === type && ev.state_key === key)?.content;
    const eventCount = async () => {
      const row = await server.context.db.knex("events").count({ n: "*" }).first();
      return Number(row?.n);
    };
    const expectError = (res: Reply, status: number, errcode: string) => {
      assert.equal(res.status, status, JSON.stringify(res.body));
      assert.equal(res.body.errcode, errcode, JSON.stringify(res.body));
    };

    before(async () => {
      db = await createTestDatabase(engine);
      server = await startHomeserver(db.config({ server_name: "rooms.test", registration: { enabled: true } }), createLogger("warn"));
      for (const u of ["alice", "bob", "carol", "dave"]) await register(u);
    });
    after(async () => {
      await server?.stop();
      await db?.dispose();
    });

    it("creates a private chat (v10) with the preset's state, in Synapse's order", async () => {
      const roomId = await createRoom("alice", {
        room_version: "10", name: "Ten", topic: "a topic", invite: [id("bob")], is_direct: true,
        initial_state: [{ type: "m.room.encryption", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
        power_level_content_override: { events_default: 10 },
        creation_content: { "m.federate": false },
      });
      const state = await stateOf("alice", roomId);
      assert.equal(stateContent(state, "m.room.create").room_version, "10");
      assert.equal(stateContent(state, "m.room.create").creator, id("alice"));
      assert.equal(stateContent(state, "m.room.create")["m.federate"], false);
      const pl = stateContent(state, "m.room.power_levels");
      assert.deepEqual(pl.users, { [id("alice")]: 100 });
      assert.equal(pl.events_default, 10, "the override is merged");
      assert.equal(pl.invite, 0);
      assert.equal(pl.events["m.room.tombstone"], 100);
      assert.deepEqual(stateContent(state, "m.room.join_rules"), { join_rule: "invite" });
      assert.deepEqual(stateContent(state, "m.room.history_visibility"), { history_visibility: "shared" });
      assert.deepEqual(stateContent(state, "m.room.guest_access"), { guest_access: "can_join" });
      assert.equal(stateContent(state, "m.room.encryption").algorithm, "m.megolm.v1.aes-sha2");
      assert.equal(stateContent(state, "m.room.name").name, "Ten");
      assert.equal(stateContent(state, "m.room.topic").topic, "a topic");
      // Member events carry the profile (registration sets the display name to the localpart).
      assert.deepEqual(stateContent(state, "m.room.member", id("bob")), { membership: "invite", displayname: "bob", is_direct: true });
      assert.deepEqual(stateContent(state, "m.room.member", id("alice")), { membership: "join", displayname: "alice" });
      // Order, read back through /messages forwards.
      const msgs = await as("alice").get(`/rooms/${e(roomId)}/messages?dir=f&limit=50`);
      assert.deepEqual(msgs.body.chunk.map((ev: any) => ev.type), [
        "m.room.create", "m.room.member", "m.room.power_levels", "m.room.join_rules", "m.room.history_visibility",
        "m.room.guest_access", "m.room.encryption", "m.room.name", "m.room.topic", "m.room.member",
      ]);
    });

    it("creates public and trusted chats in v12: creators are not in users, tombstone is 150", async () => {
      const pub = await createRoom("alice", { visibility: "public" });
      const state = await stateOf("alice", pub);
      assert.equal(stateContent(state, "m.room.create").room_version, "12");
      assert.equal(stateContent(state, "m.room.create").creator, undefined);
      const pl = stateContent(state, "m.room.power_levels");
      assert.deepEqual(pl.users, {});
      assert.equal(pl.events["m.room.tombstone"], 150);
      assert.equal(pl.invite, 50);
      assert.deepEqual(stateContent(state, "m.room.join_rules"), { join_rule: "public" });
      assert.equal(stateContent(state, "m.room.guest_access"), undefined);

      const trusted = await createRoom("alice", { preset: "trusted_private_chat", invite: [id("bob")] });
      const ts = await stateOf("alice", trusted);
      assert.deepEqual(stateContent(ts, "m.room.create").additional_creators, [id("bob")]);
      assert.deepEqual(stateContent(ts, "m.room.power_levels").users, {});

      const trusted10 = await createRoom("alice", { preset: "trusted_private_chat", invite: [id("bob")], room_version: "10" });
      assert.deepEqual(stateContent(await stateOf("alice", trusted10), "m.room.power_levels").users, { [id("alice")]: 100, [id("bob")]: 100 });
    });

    it("refuses bad createRoom requests without creating anything", async () => {
      const before = await eventCount();
      expectError(await as("alice").post("/createRoom", { room_version: "999" }), 400, "M_UNSUPPORTED_ROOM_VERSION");
      expectError(await as("alice").post("/createRoom", { name: 5 }), 400, "M_BAD_JSON");
      expectError(await as("alice").post("/createRoom", { invite: "bob" }), 400, "M_BAD_JSON");
      expectError(await as("alice").post("/createRoom", { invite: ["not-a-user"] }), 400, "M_INVALID_PARAM");
      expectError(await as("alice").post("/createRoom", { preset: "nope" }), 400, "M_BAD_JSON");
      expectError(await as("alice").post("/createRoom", { initial_state: [{ type: "x" }] }), 400, "M_BAD_JSON");
      expectError(await as("alice").raw("POST", "/createRoom", "{not json"), 400, "M_NOT_JSON");
      expectError(await as("alice").raw("POST", "/createRoom", "[1]"), 400, "M_BAD_JSON");
      expectError(await call("POST", `${V3}/createRoom`, {}), 401, "M_MISSING_TOKEN");
      assert.equal(await eventCount(), before);
    });

    it("walks invite, join, leave, kick, ban, unban, forget and refuses forbidden transitions", async () => {
      const roomId = await createRoom("alice", { preset: "private_chat" });
      const r = `/rooms/${e(roomId)}`;
      expectError(await as("bob").post(`${r}/join`), 403, "M_FORBIDDEN"); // invite-only
      expectError(await as("bob").post(`${r}/invite`, { user_id: id("carol") }), 403, "M_FORBIDDEN"); // not in room
      assert.equal((await as("alice").post(`${r}/invite`, { user_id: id("bob"), reason: "come" })).status, 200);
      assert.equal(stateContent(await stateOf("alice", roomId), "m.room.member", id("bob")).reason, "come");
      const joined = await as("bob").post(`/join/${e(roomId)}`);
      assert.deepEqual(joined.body, { room_id: roomId });
      assert.deepEqual((await as("bob").get("/joined_rooms")).body.joined_rooms, [roomId]);
      // bob (power 0) may not kick alice
      expectError(await as("bob").post(`${r}/kick`, { user_id: id("alice") }), 403, "M_FORBIDDEN");
      expectError(await as("bob").post(`${r}/ban`, { user_id: id("alice") }), 403, "M_FORBIDDEN");
      assert.equal((await as("alice").post(`${r}/kick`, { user_id: id("bob"), reason: "bye" })).status, 200);
      const kicked = stateContent(await stateOf("alice", roomId), "m.room.member", id("bob"));
      assert.deepEqual(kicked, { membership: "leave", reason: "bye" });
      expectError(await as("bob").post(`${r}/join`), 403, "M_FORBIDDEN");
      assert.equal((await as("alice").post(`${r}/ban`, { user_id: id("bob") })).status, 200);
      expectError(await as("alice").post(`${r}/invite`, { user_id: id("bob") }), 403, "M_FORBIDDEN");
      expectError(await as("alice").post(`${r}/unban`, { user_id: id("carol") }), 403, "M_FORBIDDEN");
      assert.equal((await as("alice").post(`${r}/unban`, { user_id: id("bob") })).status, 200);
      assert.equal(stateContent(await stateOf("alice", roomId), "m.room.member", id("bob")).membership, "leave");
      // forget: refused while joined, accepted after leaving
      expectError(await as("alice").post(`${r}/forget`), 400, "M_UNKNOWN");
      assert.equal((await as("alice").post(`${r}/invite`, { user_id: id("carol") })).status, 200);
      assert.equal((await as("carol").post(`${r}/join`)).status, 200);
      assert.equal((await as("carol").post(`${r}/leave`, { reason: "done" })).status, 200);
      assert.equal((await as("carol").post(`${r}/forget`)).status, 200);
      assert.deepEqual((await as("carol").get("/joined_rooms")).body.joined_rooms, []);
      // unknown rooms and bad bodies
      expectError(await as("alice").post(`/rooms/${e("!nope:rooms.test")}/join`), 404, "M_NOT_FOUND");
      expectError(await as("alice").post(`/join/${e("#nope:rooms.test")}`), 404, "M_NOT_FOUND");
      const before = await eventCount();
      expectError(await as("alice").post(`${r}/invite`, {}), 400, "M_MISSING_PARAM");
      expectError(await as("alice").post(`${r}/invite`, { user_id: 7 }), 400, "M_BAD_JSON");
      expectError(await as("alice").post(`${r}/kick`, { user_id: id("carol"), reason: 3 }), 400, "M_BAD_JSON");
      expectError(await as("alice").raw("POST", `${r}/invite`, "{"), 400, "M_NOT_JSON");
      assert.equal(await eventCount(), before);
    });

    it("sends idempotently per transaction id", async () => {
      const roomId = await createRoom("alice");
      const before = await eventCount();
      const path = `/rooms/${e(roomId)}/send/m.room.message/same-txn`;
      const first = await as("alice").put(path, { msgtype: "m.text", body: "once" });
      const again = await as("alice").put(path, { msgtype: "m.text", body: "once" });
      assert.equal(first.status, 200);
      assert.equal(again.body.event_id, first.body.event_id);
      assert.equal(await eventCount(), before + 1);
      // Concurrent retries too.
      const path2 = `/rooms/${e(roomId)}/send/m.room.message/race`;
      const all = await Promise.all([1, 2, 3].map(() => as("alice").put(path2, { body: "r" })));
      assert.equal(new Set(all.map((x) => x.body.event_id)).size, 1);
      assert.equal(await eventCount(), before + 2);
      // A refused send persists nothing.
      expectError(await as("bob").put(`/rooms/${e(roomId)}/send/m.room.message/b1`, { body: "x" }), 403, "M_FORBIDDEN");
      expectError(await as("alice").raw("PUT", `/rooms/${e(roomId)}/send/m.room.message/bad`, "nope"), 400, "M_NOT_JSON");
      expectError(await as("alice").put(`/rooms/${e("!unknown:rooms.test")}/send/m.room.message/u1`, { body: "x" }), 404, "M_NOT_FOUND");
      assert.equal(await eventCount(), before + 2);
      const ev = await as("alice").get(`/rooms/${e(roomId)}/event/${e(first.body.event_id)}`);
      assert.equal(ev.body.content.body, "once");
      assertSpecResponse("client-server", "rooms.yaml", "GET", "/rooms/{roomId}/event/{eventId}", 200, ev.body);
      assertSpecResponse("client-server", "room_send.yaml", "PUT", "/rooms/{roomId}/send/{eventType}/{txnId}", 200, first.body);
    });

    it("puts and gets state", async () => {
      const roomId = await createRoom("alice");
      const r = `/rooms/${e(roomId)}`;
      const put = await as("alice").put(`${r}/state/m.room.name`, { name: "N1" });
      assert.equal(put.status, 200);
      assert.deepEqual((await as("alice").get(`${r}/state/m.room.name`)).body, { name: "N1" });
      assert.deepEqual((await as("alice").get(`${r}/state/m.room.name/`)).body, { name: "N1" });
      const same = await as("alice").put(`${r}/state/m.room.name/`, { name: "N1" });
      assert.equal(same.body.event_id, put.body.event_id, "identical state is not sent twice");
      await as("alice").put(`${r}/state/org.example/key1`, { v: 1 });
      assert.deepEqual((await as("alice").get(`${r}/state/org.example/key1`)).body, { v: 1 });
      expectError(await as("alice").get(`${r}/state/org.example/missing`), 404, "M_NOT_FOUND");
      expectError(await as("bob").get(`${r}/state/m.room.name`), 403, "M_FORBIDDEN");
      expectError(await as("bob").get(`${r}/state`), 403, "M_FORBIDDEN");
      expectError(await as("bob").put(`${r}/state/m.room.name`, { name: "evil" }), 403, "M_FORBIDDEN");
      expectError(await as("alice").get(`/rooms/${e("!x:rooms.test")}/state`), 404, "M_NOT_FOUND");
      // power levels with a wrong type are refused by the auth rules; nothing changes
      // (users leaves out alice: a v12 creator listed there is refused earlier, as a bad request)
      const before = await eventCount();
      expectError(await as("alice").put(`${r}/state/m.room.power_levels`, { ban: "x", users: { [id("bob")]: 50 } }), 403, "M_FORBIDDEN");
      assert.equal(await eventCount(), before);
    });

    it("redacts: reads show the event redacted", async () => {
      const roomId = await createRoom("alice", { preset: "public_chat" });
      assert.equal((await as("bob").post(`/join/${e(roomId)}`)).status, 200);
      const msg = await send("alice", roomId, "secret");
      expectError(await as("bob").put(`/rooms/${e(roomId)}/redact/${e(msg)}/r1`, {}), 403, "M_FORBIDDEN");
      const red = await as("alice").put(`/rooms/${e(roomId)}/redact/${e(msg)}/r2`, { reason: "oops" });
      assert.equal(red.status, 200);
      const again = await as("alice").put(`/rooms/${e(roomId)}/redact/${e(msg)}/r2`, { reason: "oops" });
      assert.equal(again.body.event_id, red.body.event_id);
      const ev = await as("bob").get(`/rooms/${e(roomId)}/event/${e(msg)}`);
      assert.deepEqual(ev.body.content, {});
      assert.equal(ev.body.unsigned.redacted_because.event_id, red.body.event_id);
      const msgs = await as("bob").get(`/rooms/${e(roomId)}/messages?dir=b&limit=2`);
      assert.equal(msgs.body.chunk[0].type, "m.room.redaction");
      assert.equal(msgs.body.chunk[0].redacts, msg);
      assert.deepEqual(msgs.body.chunk[1].content, {});
      // and through /send, as the spec allows
      const msg2 = await send("bob", roomId, "second");
      const viaSend = await as("bob").put(`/rooms/${e(roomId)}/send/m.room.redaction/r3`, { redacts: msg2 });
      assert.equal(viaSend.status, 200);
      assert.deepEqual((await as("alice").get(`/rooms/${e(roomId)}/event/${e(msg2)}`)).body.content, {});
      expectError(await as("bob").put(`/rooms/${e(roomId)}/send/m.room.redaction/r4`, {}), 400, "M_BAD_JSON");
    });

    it("paginates 30 messages backwards and forwards with limit 7, each exactly once", async () => {
      const roomId = await createRoom("alice", { preset: "public_chat" });
      const sent: string[] = [];
      for (let i = 0; i < 30; i++) sent.push(await send("alice", roomId, `m${i}`));
      const filter = e(JSON.stringify({ types: ["m.room.message"] }));
      const back: string[] = [];
      let from: string | undefined;
      let pages = 0;
      let firstStart: string | undefined;
      for (;;) {
        const q = `/rooms/${e(roomId)}/messages?dir=b&limit=7&filter=${filter}${from ? `&from=${e(from)}` : ""}`;
        const res = await as("alice").get(q);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        if (from) assert.equal(res.body.start, from);
        else firstStart = res.body.start;
        assert.ok(res.body.chunk.length <= 7);
        back.push(...res.body.chunk.map((ev: any) => ev.event_id));
        pages++;
        if (res.body.end === undefined) break;
        from = res.body.end;
        assert.ok(pages < 20);
      }
      assert.deepEqual(back, [...sent].reverse());
      const fwd: string[] = [];
      from = undefined;
      for (;;) {
        const q = `/rooms/${e(roomId)}/messages?dir=f&limit=7&filter=${filter}&to=${e(firstStart!)}${from ? `&from=${e(from)}` : ""}`;
        const res = await as("alice").get(q);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        fwd.push(...res.body.chunk.map((ev: any) => ev.event_id));
        if (res.body.end === undefined) break;
        from = res.body.end;
      }
      assert.deepEqual(fwd, sent);
      // not_senders hides everything; a bad limit or dir is refused
      const none = await as("alice").get(`/rooms/${e(roomId)}/messages?dir=b&filter=${e(JSON.stringify({ not_senders: [id("alice")] }))}`);
      assert.deepEqual(none.body.chunk, []);
      const lazy = await as("alice").get(`/rooms/${e(roomId)}/messages?dir=b&limit=3&filter=${e(JSON.stringify({ lazy_load_members: true }))}`);
      assertSpecResponse("client-server", "message_pagination.yaml", "GET", "/rooms/{roomId}/messages", 200, lazy.body);
      assert.deepEqual(lazy.body.state.map((ev: any) => ev.state_key), [id("alice")]);
      expectError(await as("alice").get(`/rooms/${e(roomId)}/messages?dir=x`), 400, "M_INVALID_PARAM");
      expectError(await as("alice").get(`/rooms/${e(roomId)}/messages?dir=b&limit=-1`), 400, "M_INVALID_PARAM");
      expectError(await as("alice").get(`/rooms/${e(roomId)}/messages?dir=b&from=zzz`), 400, "M_INVALID_PARAM");
      expectError(await as("alice").get(`/rooms/${e(roomId)}/messages?dir=b&filter=${e("{bad")}`), 400, "M_INVALID_PARAM");
      expectError(await as("carol").get(`/rooms/${e(roomId)}/messages?dir=b`), 403, "M_FORBIDDEN");
    });

    for (const visibility of ["joined", "shared"] as const) {
      it(`history visibility "${visibility}": a late joiner ${visibility === "joined" ? "cannot" : "can"} read earlier messages`, async () => {
        const roomId = await createRoom("alice", { preset: "public_chat", initial_state: [{ type: "m.room.history_visibility", content: { history_visibility: visibility } }] });
        const early = await send("alice", roomId, "before dave");
        assert.equal((await as("dave").post(`/join/${e(roomId)}`)).status, 200);
        const late = await send("alice", roomId, "after dave");
        const msgs = await as("dave").get(`/rooms/${e(roomId)}/messages?dir=b&limit=100`);
        const ids = msgs.body.chunk.map((ev: any) => ev.event_id);
        assert.ok(ids.includes(late));
        assert.equal(ids.includes(early), visibility === "shared");
        const ev = await as("dave").get(`/rooms/${e(roomId)}/event/${e(early)}`);
        assert.equal(ev.status, visibility === "shared" ? 200 : 404);
        // after leaving, dave sees up to his leave and nothing after
        assert.equal((await as("dave").post(`/rooms/${e(roomId)}/leave`)).status, 200);
        const afterLeave = await send("alice", roomId, "after leave");
        const left = await as("dave").get(`/rooms/${e(roomId)}/messages?dir=b&limit=100`);
        const leftIds = left.body.chunk.map((x: any) => x.event_id);
        assert.ok(leftIds.includes(late));
        assert.ok(!leftIds.includes(afterLeave));
        assert.ok(!leftIds.includes(early), "shared: no longer joined, so only what was seen while joined");
        expectError(await as("dave").get(`/rooms/${e(roomId)}/event/${e(afterLeave)}`), 404, "M_NOT_FOUND");
        // and the state he sees is the one at his leave
        const st = await as("dave").get(`/rooms/${e(roomId)}/state/m.room.member/${e(id("dave"))}`);
        assert.equal(st.body.membership, "leave");
      });
    }

    it("lists members with filters, and joined members", async () => {
      const roomId = await createRoom("alice", { preset: "private_chat", invite: [id("bob"), id("carol")] });
      await as("carol").post(`/join/${e(roomId)}`);
      const r = `/rooms/${e(roomId)}`;
      const keys = (res: Reply) => res.body.chunk.map((ev: any) => ev.state_key).sort();
      assert.deepEqual(keys(await as("alice").get(`${r}/members`)), [id("alice"), id("bob"), id("carol")].sort());
      assert.deepEqual(keys(await as("alice").get(`${r}/members?membership=invite`)), [id("bob")]);
      assert.deepEqual(keys(await as("alice").get(`${r}/members?not_membership=invite`)), [id("alice"), id("carol")].sort());
      const jm = await as("alice").get(`${r}/joined_members`);
      assertSpecResponse("client-server", "rooms.yaml", "GET", "/rooms/{roomId}/joined_members", 200, jm.body);
      assertSpecResponse("client-server", "rooms.yaml", "GET", "/rooms/{roomId}/members", 200, (await as("alice").get(`${r}/members`)).body);
      assertSpecResponse("client-server", "rooms.yaml", "GET", "/rooms/{roomId}/state", 200, (await as("alice").get(`${r}/state`)).body);
      assert.deepEqual(jm.body.joined, {
        [id("alice")]: { display_name: "alice" },
        [id("carol")]: { display_name: "carol" },
      });
      expectError(await as("dave").get(`${r}/members`), 403, "M_FORBIDDEN");
      expectError(await as("dave").get(`${r}/joined_members`), 403, "M_FORBIDDEN");
    });
  });
}
