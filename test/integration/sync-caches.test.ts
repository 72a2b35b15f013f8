/**
 * The /sync hot path answers from memory (tokens, filters, memberships,
 * key counts, account data, receipts, redactions, relations, read
 * positions, room summaries). Each test here first warms what is held,
 * then changes it through the API, and checks that the next answer sees
 * the change: a held value that outlived its change would fail here.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { deviceKeys, keyPair, oneTimeKeys } from "../support/e2e-keys.js";
import type { Registered } from "../support/http.js";
import { describeOnEachEngine } from "../support/server.js";

const V3 = "/_matrix/client/v3";

describeOnEachEngine("what /sync holds in memory", { server_name: "held.test", registration: { enabled: true } }, (h) => {
  let txn = 0;
  const ok = async (method: string, path: string, body: unknown, who: Registered) => {
    const res = await h.http.call(method, path, body, who.access_token);
    assert.equal(res.status, 200, `${method} ${path}: ${JSON.stringify(res.body)}`);
    return res.body;
  };
  const sync = (who: Registered, query = "") => ok("GET", `${V3}/sync?timeout=0${query ? `&${query}` : ""}`, undefined, who);
  const room = async (who: Registered, body: Record<string, unknown> = {}) => (await ok("POST", `${V3}/createRoom`, body, who)).room_id as string;
  const send = async (who: Registered, roomId: string, content: Record<string, unknown>) =>
    (await ok("PUT", `${V3}/rooms/${encodeURIComponent(roomId)}/send/m.room.message/c${++txn}`, content, who)).event_id as string;
  const join = (who: Registered, roomId: string) => ok("POST", `${V3}/join/${encodeURIComponent(roomId)}`, {}, who);
  const timeline = (body: any, roomId: string): any[] => body.rooms?.join?.[roomId]?.timeline?.events ?? [];

  it("stops honouring a token the moment its session ends", async () => {
    const u = await h.http.register("tok");
    await sync(u);
    await ok("POST", `${V3}/logout`, {}, u);
    const after = await h.http.call("GET", `${V3}/sync?timeout=0`, undefined, u.access_token);
    assert.equal(after.status, 401);
    assert.equal(after.body.errcode, "M_UNKNOWN_TOKEN");
  });

  it("counts one-time keys down as they are claimed, and up as they are uploaded", async () => {
    const ann = await h.http.register("keys-ann");
    const ben = await h.http.register("keys-ben");
    const pair = keyPair();
    await ok("POST", `${V3}/keys/upload`, { device_keys: deviceKeys(ann.user_id, ann.device_id, pair), one_time_keys: oneTimeKeys(ann.user_id, ann.device_id, pair, ["K1", "K2"]) }, ann);
    assert.deepEqual((await sync(ann)).device_one_time_keys_count, { signed_curve25519: 2 });
    await ok("POST", `${V3}/keys/claim`, { one_time_keys: { [ann.user_id]: { [ann.device_id]: "signed_curve25519" } } }, ben);
    assert.deepEqual((await sync(ann)).device_one_time_keys_count, { signed_curve25519: 1 });
    await ok("POST", `${V3}/keys/upload`, { one_time_keys: oneTimeKeys(ann.user_id, ann.device_id, pair, ["K3", "K4"]) }, ann);
    assert.deepEqual((await sync(ann)).device_one_time_keys_count, { signed_curve25519: 3 });
  });

  it("delivers a to-device message to a device that has had none until now", async () => {
    const ann = await h.http.register("td-ann");
    const ben = await h.http.register("td-ben");
    const first = await sync(ann);
    const empty = await sync(ann, `since=${first.next_batch}`);
    assert.deepEqual(empty.to_device.events, []);
    await ok("PUT", `${V3}/sendToDevice/m.test/td1`, { messages: { [ann.user_id]: { [ann.device_id]: { n: 1 } } } }, ben);
    const got = await sync(ann, `since=${empty.next_batch}`);
    assert.deepEqual(got.to_device.events.map((e: any) => e.content), [{ n: 1 }]);
  });

  it("hides a user from the moment they are ignored, and shows them again when unignored", async () => {
    const ann = await h.http.register("ig-ann");
    const ben = await h.http.register("ig-ben");
    const roomId = await room(ann, { preset: "public_chat" });
    await join(ben, roomId);
    await send(ben, roomId, { msgtype: "m.text", body: "before" });
    assert.ok(timeline(await sync(ann), roomId).some((e) => e.content.body === "before"));
    await ok("PUT", `${V3}/user/${encodeURIComponent(ann.user_id)}/account_data/m.ignored_user_list`, { ignored_users: { [ben.user_id]: {} } }, ann);
    const hidden = await sync(ann);
    assert.ok(!timeline(hidden, roomId).some((e) => e.sender === ben.user_id && e.type === "m.room.message"));
    await ok("PUT", `${V3}/user/${encodeURIComponent(ann.user_id)}/account_data/m.ignored_user_list`, { ignored_users: {} }, ann);
    assert.ok(timeline(await sync(ann), roomId).some((e) => e.content.body === "before"));
  });

  it("shows a receipt in a room whose receipts were read before", async () => {
    const ann = await h.http.register("rc-ann");
    const ben = await h.http.register("rc-ben");
    const roomId = await room(ann, { preset: "public_chat" });
    await join(ben, roomId);
    const ev = await send(ann, roomId, { msgtype: "m.text", body: "read me" });
    const base = await sync(ann);
    const quiet = await sync(ann, `since=${base.next_batch}`);
    await ok("POST", `${V3}/rooms/${encodeURIComponent(roomId)}/receipt/m.read/${encodeURIComponent(ev)}`, {}, ben);
    const got = await sync(ann, `since=${quiet.next_batch}`);
    const receipt = got.rooms.join[roomId].ephemeral.events.find((e: any) => e.type === "m.receipt");
    assert.ok(receipt?.content[ev]?.["m.read"]?.[ben.user_id], JSON.stringify(got.rooms.join[roomId]?.ephemeral));
  });

  it("resets unread counts after a receipt, and counts again after the next message", async () => {
    const ann = await h.http.register("uc-ann");
    const ben = await h.http.register("uc-ben");
    const roomId = await room(ann, { preset: "public_chat" });
    await join(ben, roomId);
    const last = await send(ann, roomId, { msgtype: "m.text", body: "one" });
    const unread = (body: any) => body.rooms.join[roomId].unread_notifications.notification_count;
    assert.equal(unread(await sync(ben)), 1);
    await ok("POST", `${V3}/rooms/${encodeURIComponent(roomId)}/receipt/m.read/${encodeURIComponent(last)}`, {}, ben);
    assert.equal(unread(await sync(ben)), 0);
    await send(ann, roomId, { msgtype: "m.text", body: "two" });
    assert.equal(unread(await sync(ben)), 1);
  });

  it("shows an event redacted after it was served", async () => {
    const ann = await h.http.register("rd-ann");
    const roomId = await room(ann);
    const ev = await send(ann, roomId, { msgtype: "m.text", body: "regret" });
    assert.equal(timeline(await sync(ann), roomId).find((e) => e.event_id === ev)?.content.body, "regret");
    await ok("PUT", `${V3}/rooms/${encodeURIComponent(roomId)}/redact/${encodeURIComponent(ev)}/r${++txn}`, {}, ann);
    const again = timeline(await sync(ann), roomId).find((e) => e.event_id === ev);
    assert.deepEqual(again?.content, {});
    assert.ok(again?.unsigned?.redacted_because);
  });

  it("bundles an edit made after the original was served", async () => {
    const ann = await h.http.register("ed-ann");
    const roomId = await room(ann);
    const ev = await send(ann, roomId, { msgtype: "m.text", body: "tpyo" });
    assert.equal(timeline(await sync(ann), roomId).find((e) => e.event_id === ev)?.unsigned?.["m.relations"], undefined);
    const edit = await send(ann, roomId, {
      msgtype: "m.text", body: "* typo", "m.new_content": { msgtype: "m.text", body: "typo" }, "m.relates_to": { rel_type: "m.replace", event_id: ev },
    });
    const original = timeline(await sync(ann), roomId).find((e) => e.event_id === ev);
    assert.equal(original?.unsigned?.["m.relations"]?.["m.replace"]?.event_id, edit);
  });

  it("updates the summary's counts and heroes as members come and go", async () => {
    const ann = await h.http.register("sm-ann");
    const ben = await h.http.register("sm-ben");
    const roomId = await room(ann, { preset: "public_chat" });
    const summary = async () => (await sync(ann)).rooms.join[roomId].summary;
    assert.equal((await summary())["m.joined_member_count"], 1);
    await join(ben, roomId);
    const two = await summary();
    assert.equal(two["m.joined_member_count"], 2);
    assert.deepEqual(two["m.heroes"], [ben.user_id]);
    await ok("POST", `${V3}/rooms/${encodeURIComponent(roomId)}/leave`, {}, ben);
    assert.equal((await summary())["m.joined_member_count"], 1);
  });

  it("lists a room joined, left and invited to on the next sync after the memberships were read", async () => {
    const ann = await h.http.register("mb-ann");
    const ben = await h.http.register("mb-ben");
    const base = await sync(ben);
    const invited = await room(ann, { invite: [ben.user_id] });
    const withInvite = await sync(ben, `since=${base.next_batch}`);
    assert.ok(withInvite.rooms.invite[invited], "the invite shows");
    await join(ben, invited);
    const joined = await sync(ben, `since=${withInvite.next_batch}`);
    assert.ok(joined.rooms.join[invited], "the join shows");
    await ok("POST", `${V3}/rooms/${encodeURIComponent(invited)}/leave`, {}, ben);
    const left = await sync(ben, `since=${joined.next_batch}`);
    assert.ok(left.rooms.leave[invited], "the leave shows");
    assert.equal(left.rooms.join[invited], undefined);
  });
});
