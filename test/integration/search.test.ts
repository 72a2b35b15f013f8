/** POST /search over real HTTP: who finds what, ordering, pages, context, groups, and bad requests. */
import { it } from "node:test";
import assert from "node:assert/strict";
import { describeOnEachEngine } from "../support/server.js";
import { assertSpecResponse } from "../support/spec.js";
import { backfill } from "../../migrations/0015_search.js";

describeOnEachEngine("search", { server_name: "search.test", registration: { enabled: true } }, (h) => {
  let txn = 0;
  const send = async (token: string, roomId: string, body: string): Promise<string> => {
    const r = await h.http.call("PUT", `/_matrix/client/v3/rooms/${roomId}/send/m.room.message/t${++txn}`, { msgtype: "m.text", body }, token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.event_id as string;
  };
  const search = async (token: string, criteria: Record<string, unknown>, nextBatch?: string) => {
    const q = nextBatch === undefined ? "" : `?next_batch=${encodeURIComponent(nextBatch)}`;
    const r = await h.http.call("POST", `/_matrix/client/v3/search${q}`, { search_categories: { room_events: criteria } }, token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assertSpecResponse("client-server", "search.yaml", "POST", "/search", 200, r.body);
    return r.body.search_categories.room_events as Record<string, any>;
  };
  const ids = (res: Record<string, any>) => (res.results as { result: { event_id: string } }[]).map((r) => r.result.event_id);
  const room = async (token: string, extra: Record<string, unknown> = {}) => {
    const r = await h.http.call("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat", ...extra }, token);
    assert.equal(r.status, 200);
    return r.body.room_id as string;
  };
  const join = async (token: string, roomId: string) => assert.equal((await h.http.call("POST", `/_matrix/client/v3/join/${roomId}`, {}, token)).status, 200);

  it("finds messages, names and topics for members only, with highlights", async () => {
    const alice = await h.http.register("alice");
    const bob = await h.http.register("bob");
    const stranger = await h.http.register("stranger");
    const roomId = await room(alice.access_token, { name: "Martian watch", topic: "Sightings of martians" });
    await join(bob.access_token, roomId);
    const landed = await send(alice.access_token, roomId, "The Martians have landed!");
    await send(alice.access_token, roomId, "unrelated chatter");

    const found = await search(bob.access_token, { search_term: "martian" });
    assert.equal(found.count, 3);
    assert.deepEqual(new Set(found.results.map((r: any) => r.result.type)), new Set(["m.room.message", "m.room.name", "m.room.topic"]));
    assert.ok(found.highlights.includes("Martians"), JSON.stringify(found.highlights));
    assert.equal(found.next_batch, undefined);

    const bodies = await search(bob.access_token, { search_term: "MARTIANS landed", keys: ["content.body"] });
    assert.deepEqual(ids(bodies), [landed]);
    assert.equal(bodies.results[0].result.content.body, "The Martians have landed!");

    const none = await search(stranger.access_token, { search_term: "martian" });
    assert.deepEqual(none.results, []);
    assert.equal(none.count, 0);
  });

  it("hides what history visibility hides: events from before a join under joined", async () => {
    const owner = await h.http.register("owner");
    const late = await h.http.register("late");
    const roomId = await room(owner.access_token, { initial_state: [{ type: "m.room.history_visibility", state_key: "", content: { history_visibility: "joined" } }] });
    await send(owner.access_token, roomId, "zebra crossing before you came");
    await join(late.access_token, roomId);
    assert.deepEqual((await search(late.access_token, { search_term: "zebra" })).results, []);
    const after = await send(owner.access_token, roomId, "zebra crossing now");
    const res = await search(late.access_token, { search_term: "zebra" });
    assert.deepEqual(ids(res), [after]);
    assert.equal(res.count, 1);
    assert.equal((await search(owner.access_token, { search_term: "zebra" })).count, 2);

    // After leaving, what was seen while joined stays findable; what came after does not.
    assert.equal((await h.http.call("POST", `/_matrix/client/v3/rooms/${roomId}/leave`, {}, late.access_token)).status, 200);
    await send(owner.access_token, roomId, "zebra crossing after you left");
    assert.deepEqual(ids(await search(late.access_token, { search_term: "zebra" })), [after]);
  });

  it("orders by rank or by recency, filters, and drops redacted events", async () => {
    const u = await h.http.register("ranker");
    const roomId = await room(u.access_token);
    const strong = await send(u.access_token, roomId, "kiwi kiwi kiwi kiwi");
    const weak = await send(u.access_token, roomId, "one kiwi among many other words that say nothing much at all really");
    assert.deepEqual(ids(await search(u.access_token, { search_term: "kiwi", order_by: "rank" })), [strong, weak]);
    const recent = await search(u.access_token, { search_term: "kiwi", order_by: "recent" });
    assert.deepEqual(ids(recent), [weak, strong]);
    assert.ok(recent.results[0].rank !== undefined);

    const other = await room(u.access_token);
    const elsewhere = await send(u.access_token, other, "kiwi elsewhere");
    assert.deepEqual(ids(await search(u.access_token, { search_term: "kiwi", order_by: "recent", filter: { rooms: [other] } })), [elsewhere]);
    assert.equal((await search(u.access_token, { search_term: "kiwi", filter: { not_rooms: [other] } })).count, 2);
    assert.equal((await search(u.access_token, { search_term: "kiwi", filter: { senders: ["@nobody:search.test"] } })).count, 0);
    assert.equal((await search(u.access_token, { search_term: "kiwi", filter: { types: ["m.room.name"] } })).count, 0);

    const r = await h.http.call("PUT", `/_matrix/client/v3/rooms/${other}/redact/${encodeURIComponent(elsewhere)}/r1`, {}, u.access_token);
    assert.equal(r.status, 200);
    assert.deepEqual(ids(await search(u.access_token, { search_term: "kiwi", filter: { rooms: [other] } })), []);
  });

  it("pages with next_batch in both orders, and per group", async () => {
    const u = await h.http.register("pager");
    const r1 = await room(u.access_token);
    const r2 = await room(u.access_token);
    const sent: string[] = [];
    for (let i = 0; i < 5; i++) sent.push(await send(u.access_token, i % 2 ? r2 : r1, `pear number ${i}`));
    for (const order_by of ["recent", "rank"]) {
      const seen: string[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        const res = await search(u.access_token, { search_term: "pear", order_by, filter: { limit: 2 } }, token);
        assert.equal(res.count, 5);
        seen.push(...ids(res));
        token = res.next_batch;
        pages++;
      } while (token !== undefined && pages < 10);
      assert.equal(pages, 3);
      assert.deepEqual([...seen].sort(), [...sent].sort(), order_by);
      if (order_by === "recent") assert.deepEqual(seen, [...sent].reverse());
    }

    // A group's token pages within that room only.
    const first = await search(u.access_token, { search_term: "pear", order_by: "rank", filter: { limit: 2 }, groupings: { group_by: [{ key: "room_id" }] } });
    const groups = first.groups.room_id as Record<string, { order: number; results: string[]; next_batch?: string }>;
    const inRoom1 = [sent[0], sent[2], sent[4]];
    const g1 = groups[r1];
    assert.ok(g1 && g1.next_batch, JSON.stringify(first.groups));
    const rest: string[] = [...g1.results];
    let token: string | undefined = g1.next_batch;
    while (token !== undefined) {
      const res = await search(u.access_token, { search_term: "pear", order_by: "rank", filter: { limit: 2 }, groupings: { group_by: [{ key: "room_id" }] } }, token);
      for (const id of ids(res)) assert.ok(inRoom1.includes(id));
      rest.push(...ids(res));
      token = res.next_batch;
    }
    assert.deepEqual([...rest].sort(), [...inRoom1].sort());
    assert.deepEqual(Object.values(groups).map((g) => g.order).sort(), Object.keys(groups).map((_, i) => i + 1));
  });

  it("returns context, historic profiles and room state", async () => {
    const u = await h.http.register("contexter");
    await h.http.call("PUT", `/_matrix/client/v3/profile/${encodeURIComponent(u.user_id)}/displayname`, { displayname: "Con Texter" }, u.access_token);
    const roomId = await room(u.access_token, { name: "Context room" });
    const before = await send(u.access_token, roomId, "just before");
    const hit = await send(u.access_token, roomId, "the plum in the middle");
    const after = await send(u.access_token, roomId, "just after");
    const res = await search(u.access_token, {
      search_term: "plum",
      event_context: { before_limit: 1, after_limit: 1, include_profile: true },
      include_state: true,
    });
    assert.deepEqual(ids(res), [hit]);
    const ctx = res.results[0].context;
    assert.deepEqual(ctx.events_before.map((e: { event_id: string }) => e.event_id), [before]);
    assert.deepEqual(ctx.events_after.map((e: { event_id: string }) => e.event_id), [after]);
    assert.match(ctx.start, /^s\d+$/);
    assert.match(ctx.end, /^s\d+$/);
    assert.deepEqual(ctx.profile_info[u.user_id], { displayname: "Con Texter" });
    const state = res.state[roomId] as { type: string }[];
    assert.ok(state.some((e) => e.type === "m.room.name"));
    // The start token pages on backwards from the context with /messages.
    const more = await h.http.call("GET", `/_matrix/client/v3/rooms/${roomId}/messages?dir=b&limit=1&from=${ctx.start}`, undefined, u.access_token);
    assert.equal(more.status, 200);
    assert.notEqual(more.body.chunk[0]?.event_id, before);
  });

  it("indexes the events a server held before the index existed (the migration's backfill)", async () => {
    const u = await h.http.register("upgrader");
    const roomId = await room(u.access_token);
    const kept = await send(u.access_token, roomId, "quince kept");
    const gone = await send(u.access_token, roomId, "quince redacted");
    await h.http.call("PUT", `/_matrix/client/v3/rooms/${roomId}/redact/${encodeURIComponent(gone)}/r1`, {}, u.access_token);
    const knex = h.server.context.db.knex;
    await knex("event_search").del();
    assert.deepEqual((await search(u.access_token, { search_term: "quince" })).results, []);
    await backfill(knex);
    assert.deepEqual(ids(await search(u.access_token, { search_term: "quince" })), [kept]);
  });

  it("rejects bad requests", async () => {
    const u = await h.http.register("badsearch");
    const post = (body: unknown, q = "") => h.http.call("POST", `/_matrix/client/v3/search${q}`, body, u.access_token);
    assert.equal((await post({})).status, 400);
    assert.equal((await post({ search_categories: { room_events: {} } })).body.errcode, "M_MISSING_PARAM");
    assert.equal((await post({ search_categories: { room_events: { search_term: "x", order_by: "best" } } })).status, 400);
    assert.equal((await post({ search_categories: { room_events: { search_term: "x", keys: ["content.secret"] } } })).status, 400);
    assert.equal((await post({ search_categories: { room_events: { search_term: "x", filter: { limit: -1 } } } })).status, 400);
    assert.equal((await post({ search_categories: { room_events: { search_term: "x" } } }, "?next_batch=garbage")).status, 400);
    assert.equal((await h.http.call("POST", "/_matrix/client/v3/search", { search_categories: {} })).status, 401);
    // Punctuation only: no words, no results, no error.
    const empty = await post({ search_categories: { room_events: { search_term: "\"*) OR (" } } });
    assert.equal(empty.status, 200);
    assert.deepEqual(empty.body.search_categories.room_events.results, []);
    assert.deepEqual((await post({ search_categories: {} })).body, { search_categories: {} });
  });
});
