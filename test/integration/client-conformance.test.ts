/**
 * Client-Server behaviours Complement checks and this server once got
 * wrong: canonical alias checks, who may delete an alias (and that the
 * canonical alias event lets go of it), /messages and /joined_members for
 * those no longer in a room, custom join content, the m.topic block,
 * filters naming things that are not ids, full search pages, key
 * uploads missing required fields, restricted joins made here, and
 * redactions of events not held.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startHomeserver, type RunningServer } from "../../src/homeserver.js";
import { createLogger } from "../../src/logger.js";
import { ENGINES, createTestDatabase, postgresUnavailable, type TestDatabase } from "../support/databases.js";
import { testHttp, type Registered } from "../support/http.js";

const V3 = "/_matrix/client/v3";
const e = encodeURIComponent;

for (const engine of ENGINES) {
  describe(`client conformance details on ${engine}`, { skip: engine === "postgres" ? postgresUnavailable() : undefined }, () => {
    let db: TestDatabase;
    let server: RunningServer;
    const h = testHttp(() => server.url);
    let ann: Registered;
    let ben: Registered;
    let server_name: string;
    let txn = 0;

    const createRoom = async (who: Registered, body: unknown = {}) => {
      const res = await h.call("POST", `${V3}/createRoom`, body, who.access_token);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body.room_id as string;
    };
    const putState = (who: Registered, roomId: string, type: string, content: unknown) =>
      h.call("PUT", `${V3}/rooms/${e(roomId)}/state/${type}`, content, who.access_token);
    const state = async (who: Registered, roomId: string, type: string) =>
      (await h.call("GET", `${V3}/rooms/${e(roomId)}/state/${type}`, undefined, who.access_token)).body;

    before(async () => {
      db = await createTestDatabase(engine);
      server = await startHomeserver(db.config({ server_name: "conformance.test", registration: { enabled: true }, rate_limits: { message: { per_second: 0, burst: 1 } } }), createLogger("warn"));
      server_name = server.context.config.server_name;
      ann = await h.register("ann");
      ben = await h.register("ben");
    });
    after(async () => {
      await server?.stop();
      await db?.dispose();
    });

    it("checks canonical aliases: well-formed, existing, and pointing at the room", async () => {
      const room = await createRoom(ann);
      const other = await createRoom(ann);
      const mine = `#mine:${server_name}`;
      const elsewhere = `#elsewhere:${server_name}`;
      assert.equal((await h.call("PUT", `${V3}/directory/room/${e(mine)}`, { room_id: room }, ann.access_token)).status, 200);
      assert.equal((await h.call("PUT", `${V3}/directory/room/${e(elsewhere)}`, { room_id: other }, ann.access_token)).status, 200);
      assert.equal((await putState(ann, room, "m.room.canonical_alias", { alias: mine, alt_aliases: [mine] })).status, 200);
      const cases: [unknown, string][] = [
        [{ alias: `#missing:${server_name}` }, "M_BAD_ALIAS"],
        [{ alias: `%bad:${server_name}` }, "M_INVALID_PARAM"],
        [{ alias: elsewhere }, "M_BAD_ALIAS"],
        [{ alias: mine, alt_aliases: [`#missing:${server_name}`] }, "M_BAD_ALIAS"],
        [{ alias: mine, alt_aliases: ["%bad:x"] }, "M_INVALID_PARAM"],
        [{ alias: mine, alt_aliases: [elsewhere] }, "M_BAD_ALIAS"],
        [{ alias: mine, alt_aliases: "nope" }, "M_INVALID_PARAM"],
      ];
      for (const [content, errcode] of cases) {
        const res = await putState(ann, room, "m.room.canonical_alias", content);
        assert.equal(res.status, 400, JSON.stringify(content));
        assert.equal(res.body.errcode, errcode, JSON.stringify(content));
      }
      // Another server's alias is taken as given.
      assert.equal((await putState(ann, room, "m.room.canonical_alias", { alias: mine, alt_aliases: ["#x:other.example"] })).status, 200);
    });

    it("lets room moderators delete others' aliases, and drops a deleted alias from the canonical alias", async () => {
      const room = await createRoom(ann, { preset: "public_chat" });
      assert.equal((await h.call("POST", `${V3}/join/${e(room)}`, {}, ben.access_token)).status, 200);
      const alias = `#modded:${server_name}`;
      assert.equal((await h.call("PUT", `${V3}/directory/room/${e(alias)}`, { room_id: room }, ann.access_token)).status, 200);
      assert.equal((await putState(ann, room, "m.room.canonical_alias", { alias, alt_aliases: [alias] })).status, 200);
      // Ben is no moderator yet.
      assert.equal((await h.call("DELETE", `${V3}/directory/room/${e(alias)}`, undefined, ben.access_token)).status, 403);
      const pl = await state(ann, room, "m.room.power_levels");
      assert.equal((await putState(ann, room, "m.room.power_levels", { ...pl, users: { ...pl.users, [ben.user_id]: 100 } })).status, 200);
      assert.equal((await h.call("DELETE", `${V3}/directory/room/${e(alias)}`, undefined, ben.access_token)).status, 200);
      assert.deepEqual(await state(ann, room, "m.room.canonical_alias"), { alt_aliases: [] });
    });

    it("refuses /messages of forgotten and unknown rooms and /joined_members after leaving with 403", async () => {
      const room = await createRoom(ann, { preset: "public_chat" });
      assert.equal((await h.call("POST", `${V3}/join/${e(room)}`, {}, ben.access_token)).status, 200);
      const joined = await h.call("GET", `${V3}/rooms/${e(room)}/joined_members`, undefined, ben.access_token);
      assert.deepEqual(Object.keys(joined.body.joined).sort(), [ann.user_id, ben.user_id].sort());
      assert.equal((await h.call("POST", `${V3}/rooms/${e(room)}/leave`, {}, ben.access_token)).status, 200);
      assert.equal((await h.call("GET", `${V3}/rooms/${e(room)}/joined_members`, undefined, ben.access_token)).status, 403);
      // Left but not forgotten: the history up to the leave is still readable.
      assert.equal((await h.call("GET", `${V3}/rooms/${e(room)}/messages?dir=b`, undefined, ben.access_token)).status, 200);
      assert.equal((await h.call("POST", `${V3}/rooms/${e(room)}/forget`, {}, ben.access_token)).status, 200);
      // Forgotten: refused before the missing dir is even looked at.
      const forgotten = await h.call("GET", `${V3}/rooms/${e(room)}/messages`, undefined, ben.access_token);
      assert.equal(forgotten.status, 403);
      assert.equal(forgotten.body.errcode, "M_FORBIDDEN");
      const unknown = await h.call("GET", `${V3}/rooms/${e(`!nope:${server_name}`)}/messages?dir=b`, undefined, ben.access_token);
      assert.equal(unknown.status, 403);
    });

    it("puts custom join content into the member event, never overriding the membership", async () => {
      const room = await createRoom(ann, { preset: "public_chat" });
      const res = await h.call("POST", `${V3}/join/${e(room)}`, { foo: "bar", membership: "leave" }, ben.access_token);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const member = await state(ann, room, `m.room.member/${e(ben.user_id)}`);
      assert.equal(member.membership, "join");
      assert.equal(member.foo, "bar");
    });

    it("writes the topic's m.topic as a block of m.text representations", async () => {
      const room = await createRoom(ann, { topic: "Plain words" });
      assert.deepEqual(await state(ann, room, "m.room.topic"), {
        topic: "Plain words",
        "m.topic": { "m.text": [{ mimetype: "text/plain", body: "Plain words" }] },
      });
    });

    it("refuses stored filters whose room or sender lists hold something else", async () => {
      const path = `${V3}/user/${e(ann.user_id)}/filter`;
      for (const filter of [
        { room: { timeline: { rooms: ["not_a_room_id"] } } },
        { room: { timeline: { senders: ["not_a_sender_id"] } } },
        { room: { not_rooms: ["nope"] } },
      ]) {
        const res = await h.call("POST", path, filter, ann.access_token);
        assert.equal(res.status, 400, JSON.stringify(filter));
      }
      assert.equal((await h.call("POST", path, { room: { rooms: [`!a:${server_name}`], timeline: { senders: [ann.user_id] } } }, ann.access_token)).status, 200);
    });

    it("offers a next_batch after a full page of search results", async () => {
      const room = await createRoom(ann);
      for (let i = 0; i < 3; i++) {
        await h.call("PUT", `${V3}/rooms/${e(room)}/send/m.room.message/s${++txn}`, { msgtype: "m.text", body: `findme ${i}` }, ann.access_token);
      }
      const search = (limit: number) => h.call("POST", `${V3}/search`, {
        search_categories: { room_events: { search_term: "findme", order_by: "recent", filter: { limit, rooms: [room] } } },
      }, ann.access_token);
      const full = (await search(3)).body.search_categories.room_events;
      assert.equal(full.results.length, 3);
      assert.equal(typeof full.next_batch, "string");
      const partial = (await search(5)).body.search_categories.room_events;
      assert.equal(partial.results.length, 3);
      assert.equal(partial.next_batch, undefined);
    });

    it("joins a restricted room here with one of our members vouching, and refuses those the rules do not allow", async () => {
      const club = await createRoom(ann, { preset: "public_chat" });
      const room = await createRoom(ann, {
        preset: "public_chat",
        room_version: "8",
        initial_state: [{ type: "m.room.join_rules", state_key: "", content: { join_rule: "restricted", allow: [{ type: "m.room_membership", room_id: club }] } }],
      });
      assert.equal((await h.call("POST", `${V3}/join/${e(room)}`, {}, ben.access_token)).status, 403);
      assert.equal((await h.call("POST", `${V3}/join/${e(club)}`, {}, ben.access_token)).status, 200);
      const joined = await h.call("POST", `${V3}/join/${e(room)}`, {}, ben.access_token);
      assert.equal(joined.status, 200, JSON.stringify(joined.body));
      const member = await state(ann, room, `m.room.member/${e(ben.user_id)}`);
      assert.equal(member.join_authorised_via_users_server, ann.user_id);
    });

    it("redacts an event it does not hold for those who may redact others' events", async () => {
      const room = await createRoom(ann, { preset: "public_chat" });
      assert.equal((await h.call("POST", `${V3}/join/${e(room)}`, {}, ben.access_token)).status, 200);
      const unknown = "$notheld:elsewhere.example";
      assert.equal((await h.call("PUT", `${V3}/rooms/${e(room)}/redact/${e(unknown)}/r${++txn}`, {}, ben.access_token)).status, 403);
      const ok = await h.call("PUT", `${V3}/rooms/${e(room)}/redact/${e(unknown)}/r${++txn}`, { reason: "spam" }, ann.access_token);
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
    });

    it("refuses content without canonical JSON, a second create event, and v12 power levels listing a creator, as 400 M_BAD_JSON", async () => {
      const room = await createRoom(ann, { room_version: "12" });
      const float = await h.call("PUT", `${V3}/rooms/${e(room)}/send/m.room.message/f${++txn}`, { msgtype: "m.text", body: "x", n: 1.5 }, ann.access_token);
      assert.equal(float.status, 400);
      assert.equal(float.body.errcode, "M_BAD_JSON");
      const big = await h.call("PUT", `${V3}/rooms/${e(room)}/state/m.room.power_levels`, '{"users":{"@x:conformance.test":9007199254740992}}', ann.access_token);
      assert.equal(big.status, 400);
      assert.equal(big.body.errcode, "M_BAD_JSON");
      const create = await putState(ann, room, "m.room.create", { room_version: "12", entropy: 1 });
      assert.equal(create.status, 400);
      const listed = await putState(ann, room, "m.room.power_levels", { users: { [ann.user_id]: 100 } });
      assert.equal(listed.status, 400);
      assert.equal(listed.body.errcode, "M_BAD_JSON");
      assert.equal((await putState(ann, room, "m.room.power_levels", { users: { [ben.user_id]: 50 } })).status, 200);
      // Nor may createRoom's override list the creator, and nothing is made.
      const before = await server.context.db.knex("rooms").count({ n: "*" }).first();
      const override = await h.call("POST", `${V3}/createRoom`, { room_version: "12", power_level_content_override: { users: { [ann.user_id]: 100 } } }, ann.access_token);
      assert.equal(override.status, 400);
      assert.equal(override.body.errcode, "M_BAD_JSON");
      assert.deepEqual(await server.context.db.knex("rooms").count({ n: "*" }).first(), before);
    });

    it("lazy-loads the members of a /messages page that reaches back to the room's creation", async () => {
      const room = await createRoom(ann);
      const token = (await h.call("GET", `${V3}/sync?timeout=0`, undefined, ann.access_token)).body.next_batch as string;
      await h.call("PUT", `${V3}/rooms/${e(room)}/send/m.room.message/l${++txn}`, { msgtype: "m.text", body: "later" }, ann.access_token);
      const filter = e(JSON.stringify({ lazy_load_members: true }));
      const page = await h.call("GET", `${V3}/rooms/${e(room)}/messages?dir=b&from=${e(token)}&filter=${filter}`, undefined, ann.access_token);
      assert.equal(page.status, 200, JSON.stringify(page.body));
      assert.deepEqual(page.body.state.map((ev: { type: string; state_key: string }) => [ev.type, ev.state_key]), [["m.room.member", ann.user_id]]);
    });

    it("applies a contains_url filter to /messages", async () => {
      const room = await createRoom(ann);
      await h.call("PUT", `${V3}/rooms/${e(room)}/send/m.room.message/u${++txn}`, { msgtype: "m.file", body: "f", url: "mxc://x/y" }, ann.access_token);
      await h.call("PUT", `${V3}/rooms/${e(room)}/send/m.room.message/u${++txn}`, { msgtype: "m.text", body: "no url" }, ann.access_token);
      const page = (filter: unknown) => h.call("GET", `${V3}/rooms/${e(room)}/messages?dir=b&filter=${e(JSON.stringify(filter))}`, undefined, ann.access_token);
      const withUrl = (await page({ contains_url: true })).body;
      assert.deepEqual(withUrl.chunk.map((ev: { content: { body: string } }) => ev.content.body), ["f"]);
      assert.equal(typeof withUrl.end, "string");
      const without = (await page({ contains_url: false })).body.chunk as { content: { url?: string } }[];
      assert.ok(without.length > 1 && without.every((ev) => ev.content.url === undefined));
      assert.equal((await page({ contains_url: "yes" })).status, 400);
    });

    it("shows the sending device its transaction id on /event and /messages, and no one else", async () => {
      const room = await createRoom(ann, { preset: "public_chat" });
      await h.call("POST", `${V3}/join/${e(room)}`, {}, ben.access_token);
      const sent = await h.call("PUT", `${V3}/rooms/${e(room)}/send/m.room.message/mytxn${++txn}`, { msgtype: "m.text", body: "t" }, ann.access_token);
      const id = sent.body.event_id as string;
      const mine = await h.call("GET", `${V3}/rooms/${e(room)}/event/${e(id)}`, undefined, ann.access_token);
      assert.equal(mine.body.unsigned.transaction_id, `mytxn${txn}`);
      const page = await h.call("GET", `${V3}/rooms/${e(room)}/messages?dir=b&limit=1`, undefined, ann.access_token);
      assert.equal(page.body.chunk[0].unsigned.transaction_id, `mytxn${txn}`);
      const theirs = await h.call("GET", `${V3}/rooms/${e(room)}/event/${e(id)}`, undefined, ben.access_token);
      assert.equal(theirs.body.unsigned?.transaction_id, undefined);
    });

    it("refuses device keys missing their required fields as M_BAD_JSON", async () => {
      const res = await h.call("POST", `${V3}/keys/upload`, { device_keys: { user_id: ann.user_id, device_id: ann.device_id } }, ann.access_token);
      assert.equal(res.status, 400);
      assert.equal(res.body.errcode, "M_BAD_JSON");
    });
  });
}
