/** GET /rooms/{roomId}/context/{eventId}: the events around one, and what a late joiner may not see. */
import { it } from "node:test";
import assert from "node:assert/strict";
import { assertSpecResponse } from "../support/spec.js";
import { describeOnEachEngine } from "../support/server.js";

describeOnEachEngine("event context", { server_name: "ctx.test", registration: { enabled: true } }, (h) => {
  const { call, register } = h.http;

  it("returns the event with the ones before and after it, in order, and the state", async () => {
    const a = await register("ctxa");
    const roomId = (await call("POST", "/_matrix/client/v3/createRoom", { preset: "private_chat", name: "Ctx" }, a.access_token)).body.room_id;
    const ids: string[] = [];
    for (let i = 0; i < 9; i++) {
      ids.push((await call("PUT", `/_matrix/client/v3/rooms/${roomId}/send/m.room.message/t${i}`, { msgtype: "m.text", body: `n${i}` }, a.access_token)).body.event_id);
    }
    const res = await call("GET", `/_matrix/client/v3/rooms/${roomId}/context/${encodeURIComponent(ids[4])}?limit=4`, undefined, a.access_token);
    assert.equal(res.status, 200);
    assertSpecResponse("client-server", "event_context.yaml", "GET", "/rooms/{roomId}/context/{eventId}", 200, res.body);
    assert.equal(res.body.event.event_id, ids[4]);
    assert.deepEqual(res.body.events_before.map((e: { event_id: string }) => e.event_id), [ids[3], ids[2]]);
    assert.deepEqual(res.body.events_after.map((e: { event_id: string }) => e.event_id), [ids[5], ids[6]]);
    assert.ok(res.body.state.some((e: { type: string }) => e.type === "m.room.name"));
    // The tokens continue where the context ends.
    const older = await call("GET", `/_matrix/client/v3/rooms/${roomId}/messages?dir=b&limit=2&from=${res.body.start}`, undefined, a.access_token);
    assert.deepEqual(older.body.chunk.map((e: { event_id: string }) => e.event_id), [ids[1], ids[0]]);
    const newer = await call("GET", `/_matrix/client/v3/rooms/${roomId}/messages?dir=f&limit=2&from=${res.body.end}`, undefined, a.access_token);
    assert.deepEqual(newer.body.chunk.map((e: { event_id: string }) => e.event_id), [ids[7], ids[8]]);
  });

  it("leaves ignored users' events out of /messages and /context", async () => {
    const a = await register("ign1");
    const b = await register("ign2");
    const roomId = (await call("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat" }, a.access_token)).body.room_id;
    await call("POST", `/_matrix/client/v3/join/${roomId}`, {}, b.access_token);
    const fromB = (await call("PUT", `/_matrix/client/v3/rooms/${roomId}/send/m.room.message/i1`, { msgtype: "m.text", body: "noise" }, b.access_token)).body.event_id;
    const fromA = (await call("PUT", `/_matrix/client/v3/rooms/${roomId}/send/m.room.message/i2`, { msgtype: "m.text", body: "signal" }, a.access_token)).body.event_id;
    const bodies = async () =>
      (await call("GET", `/_matrix/client/v3/rooms/${roomId}/messages?dir=b&limit=50`, undefined, a.access_token)).body.chunk.map((e: { event_id: string }) => e.event_id);
    assert.ok((await bodies()).includes(fromB));
    await call("PUT", `/_matrix/client/v3/user/${a.user_id}/account_data/m.ignored_user_list`, { ignored_users: { [b.user_id]: {} } }, a.access_token);
    const after = await bodies();
    assert.ok(!after.includes(fromB) && after.includes(fromA));
    const ctxRes = await call("GET", `/_matrix/client/v3/rooms/${roomId}/context/${encodeURIComponent(fromA)}`, undefined, a.access_token);
    assert.ok(!ctxRes.body.events_before.some((e: { event_id: string }) => e.event_id === fromB));
  });

  it("hides an event from before a 'joined'-visibility user joined", async () => {
    const a = await register("ctxb");
    const b = await register("ctxc");
    const roomId = (await call("POST", "/_matrix/client/v3/createRoom", {
      preset: "public_chat",
      initial_state: [{ type: "m.room.history_visibility", content: { history_visibility: "joined" } }],
    }, a.access_token)).body.room_id;
    const early = (await call("PUT", `/_matrix/client/v3/rooms/${roomId}/send/m.room.message/e1`, { msgtype: "m.text", body: "before you" }, a.access_token)).body.event_id;
    await call("POST", `/_matrix/client/v3/join/${roomId}`, {}, b.access_token);
    const late = (await call("PUT", `/_matrix/client/v3/rooms/${roomId}/send/m.room.message/e2`, { msgtype: "m.text", body: "after" }, a.access_token)).body.event_id;
    assert.equal((await call("GET", `/_matrix/client/v3/rooms/${roomId}/context/${encodeURIComponent(early)}`, undefined, b.access_token)).status, 404);
    const ok = await call("GET", `/_matrix/client/v3/rooms/${roomId}/context/${encodeURIComponent(late)}`, undefined, b.access_token);
    assert.equal(ok.status, 200);
    assert.ok(!ok.body.events_before.some((e: { event_id: string }) => e.event_id === early), "earlier history stays hidden");
    // Nor through /sync, /messages, /event or the room's state endpoints.
    const synced = await call("GET", "/_matrix/client/v3/sync", undefined, b.access_token);
    const ids = synced.body.rooms.join[roomId].timeline.events.map((e: { event_id: string }) => e.event_id);
    assert.ok(ids.includes(late) && !ids.includes(early), "/sync hides it");
    const messages = await call("GET", `/_matrix/client/v3/rooms/${roomId}/messages?dir=b&limit=100`, undefined, b.access_token);
    assert.ok(!messages.body.chunk.some((e: { event_id: string }) => e.event_id === early), "/messages hides it");
    assert.equal((await call("GET", `/_matrix/client/v3/rooms/${roomId}/event/${encodeURIComponent(early)}`, undefined, b.access_token)).status, 404);
  });
});
