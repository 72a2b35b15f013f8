/**
 * Push rules and notification counts over real HTTP on every database:
 * counts in /sync for user and room mentions, a keyword rule, a DM, an
 * encrypted event, thread replies (unread_thread_notifications), edits
 * suppressed; receipts (and the user's own messages) resetting them, a
 * receipt waking a waiting /sync; /notifications; the push rules API with
 * its errors, and m.push_rules in /sync.
 */
import { before, it } from "node:test";
import assert from "node:assert/strict";
import { describeOnEachEngine } from "../support/server.js";
import { assertSpecResponse } from "../support/spec.js";
import type { Registered } from "../support/http.js";

const V3 = "/_matrix/client/v3";
const SETTINGS = { server_name: "push.test", registration: { enabled: true }, rate_limits: { message: { per_second: 0, burst: 1 }, registration: { per_second: 0, burst: 1 } } };

describeOnEachEngine("push rules and counts", SETTINGS, (h) => {
  let alice: Registered;
  let bob: Registered;
  let carol: Registered;
  let txn = 0;
  const call = (method: string, path: string, body?: unknown, token?: string) => h.http.call(method, path, body, token);

  const ok = async (method: string, path: string, token: string, body?: unknown) => {
    const res = await call(method, path, body, token);
    assert.equal(res.status, 200, `${method} ${path}: ${JSON.stringify(res.body)}`);
    return res.body;
  };
  const createRoom = async (who: Registered, body: Record<string, unknown> = {}) => (await ok("POST", `${V3}/createRoom`, who.access_token, body)).room_id as string;
  const join = (who: Registered, roomId: string) => ok("POST", `${V3}/join/${encodeURIComponent(roomId)}`, who.access_token, {});
  const send = async (who: Registered, roomId: string, content: Record<string, unknown>, type = "m.room.message") =>
    (await ok("PUT", `${V3}/rooms/${encodeURIComponent(roomId)}/send/${type}/t${++txn}`, who.access_token, content)).event_id as string;
  const text = (body: string, more: Record<string, unknown> = {}) => ({ msgtype: "m.text", body, ...more });
  const receipt = (who: Registered, roomId: string, eventId: string, type = "m.read", body: Record<string, unknown> = {}) =>
    ok("POST", `${V3}/rooms/${encodeURIComponent(roomId)}/receipt/${type}/${encodeURIComponent(eventId)}`, who.access_token, body);
  const sync = async (who: Registered, query = "") => {
    const body = await ok("GET", `${V3}/sync${query ? `?${query}` : ""}`, who.access_token);
    assertSpecResponse("client-server", "sync.yaml", "GET", "/sync", 200, body);
    return body;
  };
  const counts = async (who: Registered, roomId: string) => (await sync(who)).rooms.join[roomId]?.unread_notifications;
  const threadFilter = `filter=${encodeURIComponent(JSON.stringify({ room: { timeline: { unread_thread_notifications: true } } }))}`;
  const rule = (kind: string, id: string, suffix = "") => `${V3}/pushrules/global/${kind}/${encodeURIComponent(id)}${suffix}`;

  before(async () => {
    alice = await h.http.register("alice");
    bob = await h.http.register("bob");
    carol = await h.http.register("carol");
  });

  it("counts plain messages and mentions of the user (m.mentions), per recipient, never for the sender", async () => {
    const room = await createRoom(alice, { preset: "public_chat" });
    await join(bob, room);
    await join(carol, room);
    await send(alice, room, text("hello"));
    await send(alice, room, text("bob, look", { "m.mentions": { user_ids: [bob.user_id] } }));
    assert.deepEqual(await counts(bob, room), { notification_count: 2, highlight_count: 1 });
    assert.deepEqual(await counts(carol, room), { notification_count: 2, highlight_count: 0 });
    assert.deepEqual(await counts(alice, room), { notification_count: 0, highlight_count: 0 });
  });

  it("room mentions highlight only from senders with the power to notify the room", async () => {
    const room = await createRoom(alice, { preset: "public_chat" });
    await join(bob, room);
    await join(carol, room);
    await send(alice, room, text("@room hi", { "m.mentions": { room: true } }));
    assert.deepEqual(await counts(bob, room), { notification_count: 1, highlight_count: 1 });
    // Carol has power 0; notifications.room is 50 by default.
    await send(carol, room, text("@room me too", { "m.mentions": { room: true } }));
    assert.deepEqual(await counts(bob, room), { notification_count: 2, highlight_count: 1 });
  });

  it("a keyword the user adds (a content rule) highlights; deleting it stops that", async () => {
    const room = await createRoom(alice, { preset: "public_chat" });
    await join(bob, room);
    await join(carol, room);
    await ok("PUT", rule("content", "cake"), bob.access_token, { pattern: "cake", actions: ["notify", { set_tweak: "highlight" }] });
    await send(alice, room, text("Who wants CAKE?"));
    await send(alice, room, text("cakes are not cake-free"));
    await send(alice, room, text("pancakes"));
    assert.deepEqual(await counts(bob, room), { notification_count: 3, highlight_count: 2 });
    assert.deepEqual(await counts(carol, room), { notification_count: 3, highlight_count: 0 });
    await ok("DELETE", rule("content", "cake"), bob.access_token);
    await send(alice, room, text("cake again"));
    assert.deepEqual(await counts(bob, room), { notification_count: 4, highlight_count: 2 });
  });

  it("a DM notifies with sound (one-to-one rule); encrypted events notify, with sound in a DM", async () => {
    const dm = await createRoom(alice, { preset: "trusted_private_chat", invite: [bob.user_id], is_direct: true });
    await join(bob, dm);
    const msg = await send(alice, dm, text("psst"));
    const enc = await send(alice, dm, { algorithm: "m.megolm.v1.aes-sha2", ciphertext: "AAAA", sender_key: "k", session_id: "s", device_id: "D" }, "m.room.encrypted");
    assert.deepEqual(await counts(bob, dm), { notification_count: 2, highlight_count: 0 });
    const list = (await ok("GET", `${V3}/notifications?limit=10`, bob.access_token)).notifications as any[];
    const byId = new Map(list.map((n) => [n.event.event_id, n]));
    assert.deepEqual(byId.get(msg).actions, ["notify", { set_tweak: "sound", value: "default" }]);
    assert.deepEqual(byId.get(enc).actions, ["notify", { set_tweak: "sound", value: "default" }]);

    const group = await createRoom(alice, { preset: "public_chat" });
    await join(bob, group);
    await join(carol, group);
    const enc3 = await send(alice, group, { algorithm: "m.megolm.v1.aes-sha2", ciphertext: "BBBB", sender_key: "k", session_id: "s", device_id: "D" }, "m.room.encrypted");
    assert.deepEqual(await counts(bob, group), { notification_count: 1, highlight_count: 0 });
    const again = (await ok("GET", `${V3}/notifications?limit=1`, bob.access_token)).notifications as any[];
    assert.equal(again[0].event.event_id, enc3);
    assert.deepEqual(again[0].actions, ["notify"]);
  });

  it("edits are suppressed; notices too", async () => {
    const room = await createRoom(alice, { preset: "public_chat" });
    await join(bob, room);
    await join(carol, room);
    const orig = await send(alice, room, text("tyop"));
    await send(alice, room, text("* typo", { "m.new_content": text("typo"), "m.relates_to": { rel_type: "m.replace", event_id: orig } }));
    await send(alice, room, { msgtype: "m.notice", body: "bot says" });
    assert.deepEqual(await counts(bob, room), { notification_count: 1, highlight_count: 0 });
  });

  it("thread replies count per thread with unread_thread_notifications; a threaded receipt clears only its thread", async () => {
    const room = await createRoom(alice, { preset: "public_chat" });
    await join(bob, room);
    await join(carol, room);
    const root = await send(alice, room, text("thread root"));
    const inThread = (body: string, more: Record<string, unknown> = {}) => text(body, { "m.relates_to": { rel_type: "m.thread", event_id: root, is_falling_back: true, "m.in_reply_to": { event_id: root } }, ...more });
    await send(alice, room, inThread("reply 1"));
    const r2 = await send(alice, room, inThread("reply 2", { "m.mentions": { user_ids: [bob.user_id] } }));
    // A reaction to a reply is in the thread (followed through its relation), but reactions do not notify.
    await send(alice, room, { "m.relates_to": { rel_type: "m.annotation", event_id: r2, key: "👍" } }, "m.reaction");
    const main2 = await send(alice, room, text("back in main"));

    const threaded = (await sync(bob, threadFilter)).rooms.join[room];
    assert.deepEqual(threaded.unread_notifications, { notification_count: 2, highlight_count: 0 });
    assert.deepEqual(threaded.unread_thread_notifications, { [root]: { notification_count: 2, highlight_count: 1 } });
    // Without the filter option, one count for everything.
    assert.deepEqual(await counts(bob, room), { notification_count: 4, highlight_count: 1 });
    assert.equal((await sync(bob)).rooms.join[room].unread_thread_notifications, undefined);

    await receipt(bob, room, r2, "m.read", { thread_id: root });
    const afterThread = (await sync(bob, threadFilter)).rooms.join[room];
    assert.deepEqual(afterThread.unread_notifications, { notification_count: 2, highlight_count: 0 });
    assert.deepEqual(afterThread.unread_thread_notifications, {});
    // A "main" receipt clears the main timeline up to it.
    await receipt(bob, room, main2, "m.read.private", { thread_id: "main" });
    assert.deepEqual(await counts(bob, room), { notification_count: 0, highlight_count: 0 });
    // Carol's unthreaded receipt on the root clears only what is at or before it.
    await receipt(carol, room, root);
    assert.deepEqual(await counts(carol, room), { notification_count: 3, highlight_count: 0 });
  });

  it("a receipt resets the counts and wakes a waiting /sync; so does the user's own message; m.read.private counts too", async () => {
    const room = await createRoom(alice, { preset: "public_chat" });
    await join(bob, room);
    await join(carol, room);
    const e1 = await send(alice, room, text("one"));
    const e2 = await send(alice, room, text("two", { "m.mentions": { user_ids: [bob.user_id] } }));
    const first = await sync(bob);
    assert.deepEqual(first.rooms.join[room].unread_notifications, { notification_count: 2, highlight_count: 1 });
    // An older receipt first: only what is at or before it is read.
    await receipt(bob, room, e1);
    const mid = await sync(bob, `since=${first.next_batch}`);
    assert.deepEqual(mid.rooms.join[room].unread_notifications, { notification_count: 1, highlight_count: 1 });

    // A long-poll is waiting; a private receipt ends it with the new counts.
    const started = Date.now();
    const waiting = sync(bob, `since=${mid.next_batch}&timeout=10000&${encodeURIComponent("filter")}=${encodeURIComponent(JSON.stringify({ room: { ephemeral: { not_types: ["m.receipt"] } } }))}`);
    await new Promise((r) => setTimeout(r, 200));
    await receipt(bob, room, e2, "m.read.private");
    const woken = await waiting;
    assert.ok(Date.now() - started < 5000, "the receipt woke the sync");
    assert.deepEqual(woken.rooms.join[room].unread_notifications, { notification_count: 0, highlight_count: 0 });

    // Carol answers without a receipt: her own message marks what came before as read.
    await send(alice, room, text("three"));
    assert.deepEqual(await counts(carol, room), { notification_count: 3, highlight_count: 0 });
    await send(carol, room, text("caught up"));
    assert.deepEqual(await counts(carol, room), { notification_count: 0, highlight_count: 0 });
  });

  it("/notifications lists them newest first with read flags, pages with next_token, and filters highlights", async () => {
    const dave = await h.http.register("dave");
    const room = await createRoom(alice, { preset: "public_chat" });
    await join(dave, room);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await send(alice, room, text(`n${i}`, i % 2 === 0 ? { "m.mentions": { user_ids: [dave.user_id] } } : {})));
    await receipt(dave, room, ids[1]);
    const page1 = await ok("GET", `${V3}/notifications?limit=3`, dave.access_token);
    assertSpecResponse("client-server", "notifications.yaml", "GET", "/notifications", 200, page1);
    assert.deepEqual(page1.notifications.map((n: any) => n.event.event_id), [ids[4], ids[3], ids[2]]);
    assert.ok(page1.notifications.every((n: any) => n.room_id === room && n.read === false && n.ts > 0));
    assert.equal(typeof page1.next_token, "string");
    const page2 = await ok("GET", `${V3}/notifications?limit=3&from=${page1.next_token}`, dave.access_token);
    assertSpecResponse("client-server", "notifications.yaml", "GET", "/notifications", 200, page2);
    assert.deepEqual(page2.notifications.map((n: any) => [n.event.event_id, n.read]), [[ids[1], true], [ids[0], true]]);
    assert.equal(page2.next_token, undefined);
    const highlights = await ok("GET", `${V3}/notifications?only=highlight`, dave.access_token);
    assert.deepEqual(highlights.notifications.map((n: any) => n.event.event_id), [ids[4], ids[2], ids[0]]);
    assert.equal((await call("GET", `${V3}/notifications?from=abc`, undefined, dave.access_token)).status, 400);
    assert.equal((await call("GET", `${V3}/notifications?limit=-1`, undefined, dave.access_token)).status, 400);
    assert.equal((await call("GET", `${V3}/notifications`)).status, 401);
  });

  it("serves the ruleset per the spec and shows changes as m.push_rules in /sync", async () => {
    const erin = await h.http.register("erin");
    const all = await ok("GET", `${V3}/pushrules/`, erin.access_token);
    assertSpecResponse("client-server", "pushrules.yaml", "GET", "/pushrules/", 200, all);
    const global = await ok("GET", `${V3}/pushrules/global/`, erin.access_token);
    assertSpecResponse("client-server", "pushrules.yaml", "GET", "/pushrules/global/", 200, global);
    assert.deepEqual(global, all.global);
    assert.equal(global.override[0].rule_id, ".m.rule.master");
    const initial = await sync(erin);
    const pr0 = initial.account_data.events.find((e: any) => e.type === "m.push_rules");
    assert.deepEqual(pr0?.content.global, global, "an initial sync carries the ruleset");

    await ok("PUT", rule("override", "first"), erin.access_token, { conditions: [{ kind: "event_match", key: "type", pattern: "m.room.topic" }], actions: ["notify"] });
    await ok("PUT", `${rule("override", "second")}?before=first`, erin.access_token, { actions: [] });
    await ok("PUT", `${rule("override", "third")}?after=first`, erin.access_token, { actions: ["notify"] });
    const overrides = (await ok("GET", `${V3}/pushrules/global/`, erin.access_token)).override.map((r: any) => r.rule_id);
    assert.deepEqual(overrides.slice(0, 4), [".m.rule.master", "second", "first", "third"]);
    assert.equal(overrides[4], ".m.rule.suppress_notices", "user rules above the other defaults");

    const one = await ok("GET", rule("override", "first"), erin.access_token);
    assertSpecResponse("client-server", "pushrules.yaml", "GET", "/pushrules/global/{kind}/{ruleId}", 200, one);
    assert.deepEqual(one, { rule_id: "first", default: false, enabled: true, actions: ["notify"], conditions: [{ kind: "event_match", key: "type", pattern: "m.room.topic" }] });

    const next = await sync(erin, `since=${initial.next_batch}`);
    const pr = next.account_data.events.find((e: any) => e.type === "m.push_rules");
    assert.deepEqual(pr.content.global.override.slice(1, 4).map((r: any) => r.rule_id), ["second", "first", "third"]);

    // Updating a rule in place keeps its position and whether it is enabled.
    await ok("PUT", rule("override", "first", "/enabled"), erin.access_token, { enabled: false });
    await ok("PUT", rule("override", "first"), erin.access_token, { actions: [] });
    const updated = await ok("GET", `${V3}/pushrules/global/`, erin.access_token);
    assert.deepEqual(updated.override.slice(1, 4).map((r: any) => [r.rule_id, r.enabled]), [["second", true], ["first", false], ["third", true]]);

    // enabled and actions of a server-default rule.
    assert.deepEqual(await ok("GET", rule("underride", ".m.rule.message", "/enabled"), erin.access_token), { enabled: true });
    await ok("PUT", rule("underride", ".m.rule.message", "/actions"), erin.access_token, { actions: ["notify", { set_tweak: "sound", value: "bell" }] });
    const actions = await ok("GET", rule("underride", ".m.rule.message", "/actions"), erin.access_token);
    assertSpecResponse("client-server", "pushrules.yaml", "GET", "/pushrules/global/{kind}/{ruleId}/actions", 200, actions);
    assert.deepEqual(actions.actions, ["notify", { set_tweak: "sound", value: "bell" }]);
    const enabled = await ok("GET", rule("override", ".m.rule.master", "/enabled"), erin.access_token);
    assertSpecResponse("client-server", "pushrules.yaml", "GET", "/pushrules/global/{kind}/{ruleId}/enabled", 200, enabled);

    // Deleting one of hers.
    await ok("DELETE", rule("override", "second"), erin.access_token);
    assert.equal((await call("GET", rule("override", "second"), undefined, erin.access_token)).status, 404);
  });

  it("refuses bad rule requests with the right errors, changing nothing", async () => {
    const fred = await h.http.register("fred");
    const t = fred.access_token;
    await ok("PUT", rule("content", "mine"), t, { pattern: "x", actions: ["notify"] });
    const before = await ok("GET", `${V3}/pushrules/global/`, t);
    const expect = async (method: string, path: string, body: unknown, status: number, errcode: string) => {
      const res = await call(method, path, body, t);
      assert.equal(res.status, status, `${method} ${path} ${JSON.stringify(body)}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.errcode, errcode, `${method} ${path}`);
    };
    await expect("PUT", rule("content", ".mine"), { pattern: "x", actions: [] }, 400, "M_INVALID_PARAM");
    await expect("PUT", rule("content", "a/b"), { pattern: "x", actions: [] }, 400, "M_INVALID_PARAM");
    await expect("PUT", rule("content", "a\\b"), { pattern: "x", actions: [] }, 400, "M_INVALID_PARAM");
    await expect("PUT", rule("content", "nopattern"), { actions: [] }, 400, "M_MISSING_PARAM");
    await expect("PUT", rule("override", "noactions"), { conditions: [] }, 400, "M_MISSING_PARAM");
    await expect("PUT", rule("override", "badaction"), { actions: ["shout"] }, 400, "M_INVALID_PARAM");
    await expect("PUT", rule("override", "badcond"), { actions: [], conditions: [{ key: "x" }] }, 400, "M_INVALID_PARAM");
    await expect("PUT", rule("sideways", "x"), { actions: [] }, 400, "M_INVALID_PARAM");
    await expect("PUT", `${V3}/pushrules/device/content/x`, { pattern: "x", actions: [] }, 400, "M_INVALID_PARAM");
    await expect("PUT", `${rule("content", "new")}?before=nosuch`, { pattern: "x", actions: [] }, 400, "M_UNKNOWN");
    await expect("PUT", `${rule("override", "new")}?after=.m.rule.master`, { actions: [] }, 400, "M_UNKNOWN");
    await expect("PUT", rule("content", "mine"), "not json", 400, "M_NOT_JSON");
    await expect("DELETE", rule("override", ".m.rule.master"), undefined, 400, "M_INVALID_PARAM");
    await expect("DELETE", rule("override", "nosuch"), undefined, 404, "M_NOT_FOUND");
    await expect("GET", rule("override", "nosuch"), undefined, 404, "M_NOT_FOUND");
    await expect("GET", rule("override", ".m.rule.message"), undefined, 404, "M_NOT_FOUND");
    await expect("GET", rule("sideways", "x"), undefined, 400, "M_INVALID_PARAM");
    await expect("PUT", rule("override", "nosuch", "/enabled"), { enabled: true }, 404, "M_NOT_FOUND");
    await expect("PUT", rule("content", "mine", "/enabled"), {}, 400, "M_MISSING_PARAM");
    await expect("PUT", rule("content", "mine", "/enabled"), { enabled: "yes" }, 400, "M_INVALID_PARAM");
    await expect("PUT", rule("content", "mine", "/actions"), { actions: "notify" }, 400, "M_INVALID_PARAM");
    await expect("GET", rule("content", "nosuch", "/actions"), undefined, 404, "M_NOT_FOUND");
    assert.deepEqual(await ok("GET", `${V3}/pushrules/global/`, t), before);
    assert.equal((await call("GET", `${V3}/pushrules/`)).status, 401);
  });

  it("the master rule silences everything; a disabled default stops notifying; a sender rule overrides", async () => {
    const gina = await h.http.register("gina");
    const room = await createRoom(alice, { preset: "public_chat" });
    await join(gina, room);
    await join(carol, room);
    await ok("PUT", rule("override", ".m.rule.master", "/enabled"), gina.access_token, { enabled: true });
    await send(alice, room, text("shh", { "m.mentions": { user_ids: [gina.user_id] } }));
    assert.deepEqual(await counts(gina, room), { notification_count: 0, highlight_count: 0 });
    await ok("PUT", rule("override", ".m.rule.master", "/enabled"), gina.access_token, { enabled: false });
    await ok("PUT", rule("underride", ".m.rule.message", "/enabled"), gina.access_token, { enabled: false });
    await send(alice, room, text("ignored"));
    assert.deepEqual(await counts(gina, room), { notification_count: 0, highlight_count: 0 });
    await ok("PUT", rule("sender", alice.user_id), gina.access_token, { actions: ["notify", { set_tweak: "highlight" }] });
    await send(alice, room, text("from alice"));
    await send(carol, room, text("from carol"));
    assert.deepEqual(await counts(gina, room), { notification_count: 1, highlight_count: 1 });
  });
});
