/**
 * Relations over real HTTP: bundled aggregations (edits, threads,
 * references) wherever events are served, /relations with its filters,
 * pagination and recursion, /threads, redactions breaking relationships,
 * the rules on sending relations, threaded receipts, and who may see what.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { describeOnEachEngine } from "../support/server.js";
import { assertSpecResponse } from "../support/spec.js";
import type { Registered } from "../support/http.js";
import { backfill } from "../../migrations/0014_relations.js";

type Json = Record<string, any>;

describeOnEachEngine("relations", { server_name: "rel.test", registration: { enabled: true } }, (h) => {
  const { call, register } = h.http;
  let txn = 0;
  const send = async (who: Registered, roomId: string, content: Json, type = "m.room.message"): Promise<string> => {
    const r = await call("PUT", `/_matrix/client/v3/rooms/${roomId}/send/${type}/rel${++txn}`, content, who.access_token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.event_id as string;
  };
  const text = (body: string, extra: Json = {}) => ({ msgtype: "m.text", body, ...extra });
  const edit = (target: string, body: string) => ({
    msgtype: "m.text", body: `* ${body}`, "m.new_content": { msgtype: "m.text", body }, "m.relates_to": { rel_type: "m.replace", event_id: target },
  });
  const inThread = (root: string, body: string) => text(body, { "m.relates_to": { rel_type: "m.thread", event_id: root } });
  const reaction = (target: string, key: string) => ({ "m.relates_to": { rel_type: "m.annotation", event_id: target, key } });
  const room = async (who: Registered, extra: Json = {}): Promise<string> => {
    const r = await call("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat", ...extra }, who.access_token);
    assert.equal(r.status, 200);
    return r.body.room_id as string;
  };
  const join = async (who: Registered, roomId: string) => assert.equal((await call("POST", `/_matrix/client/v3/join/${roomId}`, {}, who.access_token)).status, 200);
  const redact = async (who: Registered, roomId: string, eventId: string) => {
    const r = await call("PUT", `/_matrix/client/v3/rooms/${roomId}/redact/${encodeURIComponent(eventId)}/red${++txn}`, {}, who.access_token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
  };
  const getEvent = async (who: Registered, roomId: string, eventId: string): Promise<Json> => {
    const r = await call("GET", `/_matrix/client/v3/rooms/${roomId}/event/${encodeURIComponent(eventId)}`, undefined, who.access_token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assertSpecResponse("client-server", "rooms.yaml", "GET", "/rooms/{roomId}/event/{eventId}", 200, r.body);
    return r.body;
  };
  const relationsPath = (roomId: string, eventId: string, relType?: string, eventType?: string) => {
    let p = `/_matrix/client/v1/rooms/${roomId}/relations/${encodeURIComponent(eventId)}`;
    if (relType !== undefined) p += `/${encodeURIComponent(relType)}`;
    if (eventType !== undefined) p += `/${encodeURIComponent(eventType)}`;
    return p;
  };
  const specPath = (relType?: string, eventType?: string) =>
    eventType !== undefined ? "/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}"
      : relType !== undefined ? "/rooms/{roomId}/relations/{eventId}/{relType}" : "/rooms/{roomId}/relations/{eventId}";
  const relations = async (who: Registered, roomId: string, eventId: string, opts: { relType?: string; eventType?: string; query?: string } = {}): Promise<Json> => {
    const q = opts.query ? `?${opts.query}` : "";
    const r = await call("GET", `${relationsPath(roomId, eventId, opts.relType, opts.eventType)}${q}`, undefined, who.access_token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assertSpecResponse("client-server", "relations.yaml", "GET", specPath(opts.relType, opts.eventType), 200, r.body);
    return r.body;
  };
  const ids = (chunk: Json[]) => chunk.map((e) => e.event_id as string);
  const threads = async (who: Registered, roomId: string, query = ""): Promise<Json> => {
    const r = await call("GET", `/_matrix/client/v1/rooms/${roomId}/threads${query ? `?${query}` : ""}`, undefined, who.access_token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assertSpecResponse("client-server", "threads_list.yaml", "GET", "/rooms/{roomId}/threads", 200, r.body);
    return r.body;
  };

  it("bundles the latest valid edit, the thread summary and references on /event, /messages, /context and /sync", async () => {
    const alice = await register("alice");
    const bob = await register("bob");
    const carol = await register("carol");
    const roomId = await room(alice);
    await join(bob, roomId);
    await join(carol, roomId);
    const root = await send(alice, roomId, text("I like cake"));
    await send(alice, roomId, edit(root, "I like chocolate cake"));
    const latestEdit = await send(alice, roomId, edit(root, "I like chocolate cake a lot"));
    // Not valid edits: another sender, or no m.new_content.
    await send(bob, roomId, edit(root, "bob was here"));
    await send(alice, roomId, text("* broken", { "m.relates_to": { rel_type: "m.replace", event_id: root } }));
    await send(bob, roomId, inThread(root, "first reply"));
    const reply = await send(bob, roomId, inThread(root, "second reply"));
    const replyEdit = await send(bob, roomId, edit(reply, "second reply, edited"));
    const ref = await send(carol, roomId, { body: "see above", "m.relates_to": { rel_type: "m.reference", event_id: root } }, "org.example.note");
    await send(carol, roomId, reaction(root, "👍"), "m.reaction");

    const check = (ev: Json, viewer: "alice" | "carol") => {
      assert.equal(ev.event_id, root);
      // The server does not apply edits: the original content stays.
      assert.equal(ev.content.body, "I like cake");
      const rel = ev.unsigned?.["m.relations"];
      assert.ok(rel, JSON.stringify(ev));
      assert.equal(rel["m.replace"].event_id, latestEdit);
      assert.equal(rel["m.replace"].content["m.new_content"].body, "I like chocolate cake a lot");
      assert.equal(rel["m.replace"].sender, alice.user_id);
      assert.equal(rel["m.thread"].count, 2);
      assert.equal(rel["m.thread"].latest_event.event_id, reply);
      // The latest reply carries its own edit.
      assert.equal(rel["m.thread"].latest_event.unsigned["m.relations"]["m.replace"].event_id, replyEdit);
      // alice sent the root; carol only referenced and reacted.
      assert.equal(rel["m.thread"].current_user_participated, viewer === "alice");
      assert.deepEqual(rel["m.reference"], { chunk: [{ event_id: ref }] });
      // Annotations are not aggregated by the server.
      assert.equal(rel["m.annotation"], undefined);
    };

    check(await getEvent(alice, roomId, root), "alice");
    check(await getEvent(carol, roomId, root), "carol");

    const messages = await call("GET", `/_matrix/client/v3/rooms/${roomId}/messages?dir=b&limit=50`, undefined, alice.access_token);
    assert.equal(messages.status, 200);
    assertSpecResponse("client-server", "message_pagination.yaml", "GET", "/rooms/{roomId}/messages", 200, messages.body);
    check(messages.body.chunk.find((e: Json) => e.event_id === root), "alice");
    // The edit itself is an ordinary event in the timeline, without aggregations of its own.
    assert.equal(messages.body.chunk.find((e: Json) => e.event_id === latestEdit).unsigned["m.relations"], undefined);

    const context = await call("GET", `/_matrix/client/v3/rooms/${roomId}/context/${encodeURIComponent(root)}?limit=4`, undefined, carol.access_token);
    assert.equal(context.status, 200);
    assertSpecResponse("client-server", "event_context.yaml", "GET", "/rooms/{roomId}/context/{eventId}", 200, context.body);
    check(context.body.event, "carol");
    const replyInContext = [...context.body.events_after].find((e: Json) => e.event_id === reply);
    if (replyInContext) assert.equal(replyInContext.unsigned["m.relations"]["m.replace"].event_id, replyEdit);

    const filter = encodeURIComponent(JSON.stringify({ room: { timeline: { limit: 50 } } }));
    const sync = await call("GET", `/_matrix/client/v3/sync?filter=${filter}`, undefined, alice.access_token);
    assert.equal(sync.status, 200);
    assertSpecResponse("client-server", "sync.yaml", "GET", "/sync", 200, sync.body);
    const timeline = sync.body.rooms.join[roomId].timeline.events as Json[];
    check(timeline.find((e) => e.event_id === root)!, "alice");
    // Inside /sync's room sections events have no room_id, and the bundled ones follow suit.
    assert.equal(timeline.find((e) => e.event_id === root)!.unsigned["m.relations"]["m.replace"].room_id, undefined);
  });

  it("bundles aggregations on /search results", async () => {
    const u = await register("searcher");
    const roomId = await room(u);
    const root = await send(u, roomId, text("quokka sighting"));
    const e = await send(u, roomId, edit(root, "quokka sighting, confirmed"));
    const r = await call("POST", "/_matrix/client/v3/search", { search_categories: { room_events: { search_term: "quokka", keys: ["content.body"] } } }, u.access_token);
    assert.equal(r.status, 200);
    const hit = r.body.search_categories.room_events.results.find((x: Json) => x.result.event_id === root);
    assert.equal(hit.result.unsigned["m.relations"]["m.replace"].event_id, e);
  });

  it("lists children with each filter, newest first, paginating both ways", async () => {
    const u = await register("pager");
    const roomId = await room(u);
    const root = await send(u, roomId, text("root"));
    const t1 = await send(u, roomId, inThread(root, "t1"));
    const a1 = await send(u, roomId, reaction(root, "a"), "m.reaction");
    const t2 = await send(u, roomId, inThread(root, "t2"));
    const e1 = await send(u, roomId, edit(root, "root!"));
    const a2 = await send(u, roomId, reaction(root, "b"), "m.reaction");
    const t3 = await send(u, roomId, inThread(root, "t3"));
    await send(u, roomId, text("unrelated"));
    const all = [t3, a2, e1, t2, a1, t1];

    const everything = await relations(u, roomId, root, { query: "limit=50" });
    assert.deepEqual(ids(everything.chunk), all);
    assert.equal(everything.next_batch, undefined);
    assert.equal(everything.prev_batch, undefined);
    assert.equal(everything.recursion_depth, undefined);
    assert.deepEqual(ids((await relations(u, roomId, root, { relType: "m.thread" })).chunk), [t3, t2, t1]);
    assert.deepEqual(ids((await relations(u, roomId, root, { relType: "m.annotation", eventType: "m.reaction" })).chunk), [a2, a1]);
    assert.deepEqual((await relations(u, roomId, root, { relType: "m.annotation", eventType: "m.room.message" })).chunk, []);
    assert.deepEqual(ids((await relations(u, roomId, root, { relType: "m.replace", eventType: "m.room.message" })).chunk), [e1]);
    // Children carry their own aggregations: a thread reply's chunk entry is a full client event.
    assert.equal((await relations(u, roomId, root, { relType: "m.thread" })).chunk[0].content.body, "t3");

    // Backwards in pages of two, following next_batch until it is absent; prev_batch echoes from.
    const back: string[] = [];
    let from: string | undefined;
    const tokens: string[] = [];
    for (let i = 0; i < 10; i++) {
      const page = await relations(u, roomId, root, { query: `limit=2${from ? `&from=${from}` : ""}` });
      back.push(...ids(page.chunk));
      if (from) assert.equal(page.prev_batch, from);
      if (!page.next_batch) break;
      from = page.next_batch as string;
      tokens.push(from);
    }
    assert.deepEqual(back, all);

    // Forwards: oldest first.
    const fwd: string[] = [];
    from = undefined;
    for (let i = 0; i < 10; i++) {
      const page = await relations(u, roomId, root, { query: `dir=f&limit=4${from ? `&from=${from}` : ""}` });
      fwd.push(...ids(page.chunk));
      if (!page.next_batch) break;
      from = page.next_batch;
    }
    assert.deepEqual(fwd, [...all].reverse());

    // from page 1's token to page 2's: exactly page 2.
    const page2 = await relations(u, roomId, root, { query: `limit=50&from=${tokens[0]}&to=${tokens[1]}` });
    assert.deepEqual(ids(page2.chunk), [e1, t2]);
    // ... and the other way round is empty.
    assert.deepEqual((await relations(u, roomId, root, { query: `from=${tokens[1]}&to=${tokens[0]}` })).chunk, []);

    // A /messages token and a /sync token serve as from (the newest three events: unrelated, t3, a2).
    const messages = await call("GET", `/_matrix/client/v3/rooms/${roomId}/messages?dir=b&limit=3`, undefined, u.access_token);
    assert.deepEqual(ids((await relations(u, roomId, root, { query: `limit=50&from=${messages.body.end}` })).chunk), [e1, t2, a1, t1]);
    const sync = await call("GET", "/_matrix/client/v3/sync", undefined, u.access_token);
    assert.deepEqual(ids((await relations(u, roomId, root, { query: `limit=50&from=${sync.body.next_batch}` })).chunk), all);
  });

  it("recurses into children of children when asked, and says how deep", async () => {
    const u = await register("recurser");
    const roomId = await room(u);
    const root = await send(u, roomId, text("root"));
    const reply = await send(u, roomId, inThread(root, "reply"));
    const onReply = await send(u, roomId, reaction(reply, "🎉"), "m.reaction");
    const ref = await send(u, roomId, { body: "r", "m.relates_to": { rel_type: "m.reference", event_id: onReply } }, "org.example.note");
    const deep = await send(u, roomId, { body: "d", "m.relates_to": { rel_type: "m.reference", event_id: ref } }, "org.example.note");

    assert.deepEqual(ids((await relations(u, roomId, root)).chunk), [reply]);
    const shallow = await relations(u, roomId, root, { query: "recurse=false" });
    assert.deepEqual(ids(shallow.chunk), [reply]);
    assert.equal(shallow.recursion_depth, 1);
    const rec = await relations(u, roomId, root, { query: "recurse=true&limit=50" });
    // Three levels down, and no further.
    assert.deepEqual(ids(rec.chunk), [ref, onReply, reply]);
    assert.ok(!ids(rec.chunk).includes(deep));
    assert.equal(rec.recursion_depth, 3);
    // The filters apply to what is returned, not to the walk.
    assert.deepEqual(ids((await relations(u, roomId, root, { relType: "m.annotation", query: "recurse=true" })).chunk), [onReply]);
    assert.deepEqual(ids((await relations(u, roomId, root, { relType: "m.reference", eventType: "org.example.note", query: "recurse=true" })).chunk), [ref]);
  });

  it("refuses bad parameters and unknown events with the spec's errors", async () => {
    const u = await register("badparams");
    const roomId = await room(u);
    const root = await send(u, roomId, text("root"));
    const bad = async (path: string, status: number, errcode: string) => {
      const r = await call("GET", path, undefined, u.access_token);
      assert.equal(r.status, status, `${path}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.errcode, errcode);
    };
    const base = relationsPath(roomId, root);
    await bad(`${base}?dir=x`, 400, "M_INVALID_PARAM");
    await bad(`${base}?limit=ten`, 400, "M_INVALID_PARAM");
    await bad(`${base}?recurse=maybe`, 400, "M_INVALID_PARAM");
    await bad(`${base}?from=nonsense`, 400, "M_INVALID_PARAM");
    await bad(relationsPath(roomId, "$nope"), 404, "M_NOT_FOUND");
    const r = await call("GET", relationsPath(roomId, "$nope"), undefined, u.access_token);
    assertSpecResponse("client-server", "relations.yaml", "GET", "/rooms/{roomId}/relations/{eventId}", 404, r.body);
    await bad(relationsPath("!unknown:rel.test", root), 404, "M_NOT_FOUND");
    await bad(`/_matrix/client/v1/rooms/${roomId}/threads?include=some`, 400, "M_INVALID_PARAM");
    await bad(`/_matrix/client/v1/rooms/${roomId}/threads?limit=0`, 400, "M_INVALID_PARAM");
    await bad(`/_matrix/client/v1/rooms/${roomId}/threads?from=s12`, 400, "M_INVALID_PARAM");
    assert.equal((await call("GET", relationsPath(roomId, root))).status, 401);
  });

  it("lists threads by latest activity, with include=participated and pages", async () => {
    const alice = await register("talice");
    const bob = await register("tbob");
    const carol = await register("tcarol");
    const dave = await register("tdave");
    const roomId = await room(alice);
    for (const u of [bob, carol, dave]) await join(u, roomId);
    const t1 = await send(alice, roomId, text("thread one"));
    const t2 = await send(carol, roomId, text("thread two"));
    await send(bob, roomId, inThread(t1, "bob in one"));
    await send(carol, roomId, inThread(t2, "carol in two"));
    await send(carol, roomId, text("not a thread"));

    assert.deepEqual(ids((await threads(dave, roomId)).chunk), [t2, t1]);
    // New activity moves a thread to the top.
    const latest = await send(alice, roomId, inThread(t1, "alice in one"));
    const listed = await threads(dave, roomId);
    assert.deepEqual(ids(listed.chunk), [t1, t2]);
    assert.equal(listed.next_batch, undefined);
    const summary = listed.chunk[0].unsigned["m.relations"]["m.thread"];
    assert.equal(summary.count, 2);
    assert.equal(summary.latest_event.event_id, latest);
    assert.equal(summary.current_user_participated, false);

    assert.deepEqual(ids((await threads(bob, roomId, "include=participated")).chunk), [t1]);
    assert.deepEqual(ids((await threads(carol, roomId, "include=participated")).chunk), [t2]);
    assert.deepEqual(ids((await threads(alice, roomId, "include=participated")).chunk), [t1]);
    assert.deepEqual((await threads(dave, roomId, "include=participated")).chunk, []);
    assert.deepEqual(ids((await threads(dave, roomId, "include=all")).chunk), [t1, t2]);

    const first = await threads(dave, roomId, "limit=1");
    assert.deepEqual(ids(first.chunk), [t1]);
    assert.ok(first.next_batch);
    const second = await threads(dave, roomId, `limit=1&from=${encodeURIComponent(first.next_batch)}`);
    assert.deepEqual(ids(second.chunk), [t2]);
    if (second.next_batch) {
      const third = await threads(dave, roomId, `limit=1&from=${encodeURIComponent(second.next_batch)}`);
      assert.deepEqual(third.chunk, []);
      assert.equal(third.next_batch, undefined);
    }
  });

  it("drops redacted children from counts, edits, references and the thread list", async () => {
    const u = await register("redactor");
    const v = await register("replier");
    const roomId = await room(u);
    await join(v, roomId);
    const root = await send(u, roomId, text("root"));
    const r1 = await send(v, roomId, inThread(root, "r1"));
    const r2 = await send(v, roomId, inThread(root, "r2"));
    const e1 = await send(u, roomId, edit(root, "edit one"));
    const e2 = await send(u, roomId, edit(root, "edit two"));
    const ref = await send(v, roomId, { body: "x", "m.relates_to": { rel_type: "m.reference", event_id: root } }, "org.example.note");
    let rel = (await getEvent(u, roomId, root)).unsigned["m.relations"];
    assert.equal(rel["m.thread"].count, 2);
    assert.equal(rel["m.replace"].event_id, e2);

    await redact(v, roomId, r2);
    await redact(u, roomId, e2);
    await redact(v, roomId, ref);
    rel = (await getEvent(u, roomId, root)).unsigned["m.relations"];
    assert.equal(rel["m.thread"].count, 1);
    assert.equal(rel["m.thread"].latest_event.event_id, r1);
    assert.equal(rel["m.thread"].current_user_participated, true);
    assert.equal(rel["m.replace"].event_id, e1);
    assert.equal(rel["m.reference"], undefined);
    assert.deepEqual(ids((await relations(u, roomId, root, { relType: "m.thread" })).chunk), [r1]);
    assert.deepEqual(ids((await threads(u, roomId)).chunk), [root]);

    await redact(v, roomId, r1);
    await redact(u, roomId, e1);
    assert.equal((await getEvent(u, roomId, root)).unsigned["m.relations"], undefined);
    assert.deepEqual((await threads(u, roomId)).chunk, []);
    assert.deepEqual((await relations(u, roomId, root)).chunk, []);

    // A redacted original gets no edit bundled, even though the edit is still there.
    const other = await send(u, roomId, text("to be removed"));
    await send(u, roomId, edit(other, "edited"));
    await redact(u, roomId, other);
    const shown = await getEvent(u, roomId, other);
    assert.ok(shown.unsigned.redacted_because);
    assert.equal(shown.unsigned["m.relations"], undefined);
  });

  it("leaves ignored users out of aggregations", async () => {
    const u = await register("ignorer");
    const noisy = await register("noisy");
    const roomId = await room(u);
    await join(noisy, roomId);
    const root = await send(u, roomId, text("root"));
    const mine = await send(u, roomId, inThread(root, "mine"));
    await send(noisy, roomId, inThread(root, "noise"));
    assert.equal((await getEvent(u, roomId, root)).unsigned["m.relations"]["m.thread"].count, 2);
    await call("PUT", `/_matrix/client/v3/user/${encodeURIComponent(u.user_id)}/account_data/m.ignored_user_list`, { ignored_users: { [noisy.user_id]: {} } }, u.access_token);
    const thread = (await getEvent(u, roomId, root)).unsigned["m.relations"]["m.thread"];
    assert.equal(thread.count, 1);
    assert.equal(thread.latest_event.event_id, mine);
    assert.deepEqual(ids((await relations(u, roomId, root)).chunk), [mine]);
  });

  it("refuses duplicate annotations, threads off relations and relations across rooms, storing nothing", async () => {
    const u = await register("rules");
    const roomId = await room(u);
    const otherRoom = await room(u);
    const root = await send(u, roomId, text("root"));
    const first = await send(u, roomId, reaction(root, "👍"), "m.reaction");
    const dup = await call("PUT", `/_matrix/client/v3/rooms/${roomId}/send/m.reaction/dup${++txn}`, reaction(root, "👍"), u.access_token);
    assert.equal(dup.status, 400);
    assert.equal(dup.body.errcode, "M_DUPLICATE_ANNOTATION");
    // Another key, or another event type with the same key, is fine.
    await send(u, roomId, reaction(root, "👎"), "m.reaction");
    await send(u, roomId, reaction(root, "👍"), "org.example.reaction");
    assert.equal((await relations(u, roomId, root, { relType: "m.annotation", eventType: "m.reaction" })).chunk.length, 2);
    // Once the first is redacted the same reaction may be sent again.
    await redact(u, roomId, first);
    await send(u, roomId, reaction(root, "👍"), "m.reaction");

    const reply = await send(u, roomId, inThread(root, "reply"));
    const nested = await call("PUT", `/_matrix/client/v3/rooms/${roomId}/send/m.room.message/nest${++txn}`, inThread(reply, "nested"), u.access_token);
    assert.equal(nested.status, 400);
    assert.equal(nested.body.errcode, "M_UNKNOWN");
    const across = await call("PUT", `/_matrix/client/v3/rooms/${otherRoom}/send/m.room.message/x${++txn}`, inThread(root, "elsewhere"), u.access_token);
    assert.equal(across.status, 400);
    assert.equal(across.body.errcode, "M_UNKNOWN");
    const unknown = await call("PUT", `/_matrix/client/v3/rooms/${roomId}/send/m.room.message/x${++txn}`, inThread("$never-seen", "to nothing"), u.access_token);
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.errcode, "M_UNKNOWN");
    const keyless = await call("PUT", `/_matrix/client/v3/rooms/${roomId}/send/m.reaction/x${++txn}`, { "m.relates_to": { rel_type: "m.annotation", event_id: root } }, u.access_token);
    assert.equal(keyless.status, 400);
    assert.equal(keyless.body.errcode, "M_UNKNOWN");
    assert.deepEqual(ids((await relations(u, roomId, root, { relType: "m.thread" })).chunk), [reply]);
    assert.deepEqual((await relations(u, roomId, reply)).chunk, []);
    // Nothing was sent: the refused events are in neither room's timeline.
    const msgs = await call("GET", `/_matrix/client/v3/rooms/${otherRoom}/messages?dir=b&limit=50`, undefined, u.access_token);
    assert.ok(!msgs.body.chunk.some((e: Json) => e.content?.body === "elsewhere"));
  });

  it("checks threaded receipts against the event's thread", async () => {
    const u = await register("receipter");
    const roomId = await room(u);
    const root = await send(u, roomId, text("root"));
    const reply = await send(u, roomId, inThread(root, "reply"));
    const reactionToReply = await send(u, roomId, reaction(reply, "x"), "m.reaction");
    const plain = await send(u, roomId, text("plain"));
    const receipt = (eventId: string, body: Json) =>
      call("POST", `/_matrix/client/v3/rooms/${roomId}/receipt/m.read/${encodeURIComponent(eventId)}`, body, u.access_token);
    const ok = async (eventId: string, body: Json) => {
      const r = await receipt(eventId, body);
      assert.equal(r.status, 200, `${eventId} ${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
    };
    const refused = async (eventId: string, body: Json) => {
      const r = await receipt(eventId, body);
      assert.equal(r.status, 400, `${eventId} ${JSON.stringify(body)}`);
      assert.equal(r.body.errcode, "M_INVALID_PARAM");
      assertSpecResponse("client-server", "receipts.yaml", "POST", "/rooms/{roomId}/receipt/{receiptType}/{eventId}", 400, r.body);
    };
    await ok(reply, { thread_id: root });
    await ok(reactionToReply, { thread_id: root });
    await ok(plain, { thread_id: "main" });
    // A thread root is in the main timeline, and in its own thread.
    await ok(root, { thread_id: "main" });
    await ok(root, { thread_id: root });
    await ok(plain, {});
    await refused(reply, { thread_id: "main" });
    await refused(plain, { thread_id: root });
    await refused(plain, { thread_id: "$not-a-thread" });
    await refused(plain, { thread_id: 7 });
    await refused(plain, { thread_id: "" });

    // /sync keeps each thread's receipts apart: the unthreaded and the "main" receipt on one event both arrive.
    const sync = await call("GET", "/_matrix/client/v3/sync", undefined, u.access_token);
    const receipts = (sync.body.rooms.join[roomId].ephemeral.events as Json[]).filter((e) => e.type === "m.receipt");
    const onPlain = receipts.map((e) => e.content[plain]?.["m.read"]?.[u.user_id]).filter((x) => x !== undefined);
    assert.deepEqual(onPlain.map((x: Json) => x.thread_id ?? null).sort(), ["main", null].sort());
    const onReply = receipts.map((e) => e.content[reactionToReply]?.["m.read"]?.[u.user_id]).filter((x) => x !== undefined);
    assert.deepEqual(onReply.map((x: Json) => x.thread_id), [root]);
  });

  it("hides relations from those who cannot see the room or the event", async () => {
    const owner = await register("owner");
    const stranger = await register("stranger");
    const late = await register("latecomer");
    const priv = await room(owner, { preset: "private_chat" });
    const secret = await send(owner, priv, text("secret"));
    await send(owner, priv, inThread(secret, "secret reply"));
    const r = await call("GET", relationsPath(priv, secret), undefined, stranger.access_token);
    assert.equal(r.status, 404);
    assert.equal(r.body.errcode, "M_NOT_FOUND");
    const t = await call("GET", `/_matrix/client/v1/rooms/${priv}/threads`, undefined, stranger.access_token);
    assert.equal(t.status, 403);
    assert.equal(t.body.errcode, "M_FORBIDDEN");
    assertSpecResponse("client-server", "threads_list.yaml", "GET", "/rooms/{roomId}/threads", 403, t.body);
    const unknown = await call("GET", "/_matrix/client/v1/rooms/!nowhere:rel.test/threads", undefined, stranger.access_token);
    assert.equal(unknown.status, 403);

    // Under "joined" visibility a latecomer sees neither the old root nor its old replies.
    const joinedOnly = await room(owner, { initial_state: [{ type: "m.room.history_visibility", state_key: "", content: { history_visibility: "joined" } }] });
    const old = await send(owner, joinedOnly, text("old"));
    await send(owner, joinedOnly, inThread(old, "old reply"));
    await join(late, joinedOnly);
    const fresh = await send(owner, joinedOnly, inThread(old, "new reply"));
    assert.equal((await call("GET", relationsPath(joinedOnly, old), undefined, late.access_token)).status, 404);
    assert.deepEqual((await threads(late, joinedOnly)).chunk, []);
    assert.deepEqual(ids((await relations(owner, joinedOnly, old)).chunk).length, 2);
    const newRoot = await send(owner, joinedOnly, text("new root"));
    const seen = await send(owner, joinedOnly, inThread(newRoot, "seen"));
    assert.deepEqual(ids((await relations(late, joinedOnly, newRoot)).chunk), [seen]);
    assert.ok(fresh);
  });

  it("indexes what was stored before the migration", async () => {
    const u = await register("migrator");
    const roomId = await room(u);
    const root = await send(u, roomId, text("root"));
    const reply = await send(u, roomId, inThread(root, "reply"));
    const e = await send(u, roomId, edit(root, "edited"));
    const gone = await send(u, roomId, inThread(root, "gone"));
    await redact(u, roomId, gone);
    const knex = h.server.context.db.knex;
    await knex("event_threads").del();
    await knex("event_relations").del();
    assert.equal((await getEvent(u, roomId, root)).unsigned["m.relations"], undefined);
    await backfill(knex);
    // The migration runs before a server starts; under this live one, drop what it holds as a restart would.
    h.server.context.events.forgetHeldFacts();
    const rel = (await getEvent(u, roomId, root)).unsigned["m.relations"];
    assert.equal(rel["m.replace"].event_id, e);
    assert.equal(rel["m.thread"].count, 1);
    assert.equal(rel["m.thread"].latest_event.event_id, reply);
    assert.ok(ids((await threads(u, roomId)).chunk).includes(root));
  });
});
