/** GET /hierarchy over real HTTP: what a space lists, to whom, how deep, and in pages. */
import { it } from "node:test";
import assert from "node:assert/strict";
import { describeOnEachEngine } from "../support/server.js";
import { assertSpecResponse } from "../support/spec.js";

describeOnEachEngine("space hierarchy", { server_name: "space.test", registration: { enabled: true } }, (h) => {
  const create = async (token: string, body: Record<string, unknown>) => {
    const r = await h.http.call("POST", "/_matrix/client/v3/createRoom", body, token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.room_id as string;
  };
  const addChild = async (token: string, space: string, child: string, content: Record<string, unknown> = {}) => {
    const r = await h.http.call("PUT", `/_matrix/client/v3/rooms/${space}/state/m.space.child/${encodeURIComponent(child)}`, { via: ["space.test"], ...content }, token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
  };
  const get = async (token: string, space: string, query = "") => {
    const r = await h.http.call("GET", `/_matrix/client/v1/rooms/${space}/hierarchy${query}`, undefined, token);
    if (r.status === 200) assertSpecResponse("client-server", "space_hierarchy.yaml", "GET", "/rooms/{roomId}/hierarchy", 200, r.body);
    return r;
  };
  const roomIds = (body: Record<string, any>) => (body.rooms as { room_id: string }[]).map((r) => r.room_id);

  it("walks a space depth-first in the spec's child order, with suggested_only, max_depth and visibility", async () => {
    const owner = await h.http.register("spaceowner");
    const viewer = await h.http.register("spaceviewer");
    const space = await create(owner.access_token, { preset: "public_chat", name: "Top", creation_content: { type: "m.space" } });
    const sub = await create(owner.access_token, { preset: "public_chat", name: "Sub", creation_content: { type: "m.space" } });
    const general = await create(owner.access_token, { preset: "public_chat", name: "General" });
    const secret = await create(owner.access_token, { preset: "private_chat", name: "Secret" });
    const deep = await create(owner.access_token, { preset: "public_chat", name: "Deep" });
    const removed = await create(owner.access_token, { preset: "public_chat", name: "Removed" });
    // order "a" before "b"; no order sorts last.
    await addChild(owner.access_token, space, general, { order: "b", suggested: true });
    await addChild(owner.access_token, space, sub, { order: "a" });
    await addChild(owner.access_token, space, secret, { suggested: true });
    await addChild(owner.access_token, sub, deep);
    await addChild(owner.access_token, sub, space); // a loop back to the top
    await h.http.call("PUT", `/_matrix/client/v3/rooms/${space}/state/m.space.child/${encodeURIComponent(removed)}`, {}, owner.access_token);

    const all = await get(viewer.access_token, space);
    assert.equal(all.status, 200);
    assert.deepEqual(roomIds(all.body), [space, sub, deep, general], "secret is private to the viewer; removed has no via");
    const top = all.body.rooms[0];
    assert.equal(top.room_type, "m.space");
    assert.equal(top.name, "Top");
    assert.equal(top.join_rule, "public");
    assert.equal(top.num_joined_members, 1);
    assert.equal(top.world_readable, false);
    assert.equal(top.guest_can_join, false);
    assert.deepEqual(top.children_state.map((c: { state_key: string }) => c.state_key), [sub, general, secret]);
    assert.equal(typeof top.children_state[0].origin_server_ts, "number");
    assert.deepEqual(all.body.rooms[3].children_state, [], "a plain room has no children");
    assert.equal(all.body.next_batch, undefined);

    assert.deepEqual(roomIds((await get(owner.access_token, space)).body), [space, sub, deep, general, secret], "the owner sees the private room");
    assert.deepEqual(roomIds((await get(viewer.access_token, space, "?suggested_only=true")).body), [space, general]);
    assert.deepEqual(roomIds((await get(viewer.access_token, space, "?max_depth=1")).body), [space, sub, general]);
    assert.deepEqual(roomIds((await get(viewer.access_token, space, "?max_depth=0")).body), [space]);

    // Pages of two, then one; changing max_depth midway is refused.
    const p1 = await get(viewer.access_token, space, "?limit=2");
    assert.deepEqual(roomIds(p1.body), [space, sub]);
    assert.ok(p1.body.next_batch);
    const p2 = await get(viewer.access_token, space, `?limit=2&from=${p1.body.next_batch}`);
    assert.deepEqual(roomIds(p2.body), [deep, general]);
    assert.equal(p2.body.next_batch, undefined);
    const changed = await get(viewer.access_token, space, `?limit=2&max_depth=1&from=${p1.body.next_batch}`);
    assert.equal(changed.status, 400);
    assert.equal(changed.body.errcode, "M_INVALID_PARAM");
  });

  it("refuses rooms the requester may not see, and bad parameters", async () => {
    const owner = await h.http.register("privowner");
    const outsider = await h.http.register("outsider");
    const priv = await create(owner.access_token, { preset: "private_chat", creation_content: { type: "m.space" } });
    assert.equal((await get(outsider.access_token, priv)).status, 403);
    assert.equal((await get(outsider.access_token, "!nowhere:space.test")).status, 403);
    assert.equal((await get(owner.access_token, priv, "?limit=0")).status, 400);
    assert.equal((await get(owner.access_token, priv, "?max_depth=-1")).status, 400);
    assert.equal((await get(owner.access_token, priv, "?from=bogus")).status, 400);
    assert.equal((await get(owner.access_token, priv, "?suggested_only=yes")).status, 400);

    // A restricted room is listed to members of a room its rule allows.
    const club = await create(owner.access_token, { preset: "public_chat" });
    const restricted = await create(owner.access_token, {
      room_version: "10",
      preset: "private_chat",
      initial_state: [{ type: "m.room.join_rules", state_key: "", content: { join_rule: "restricted", allow: [{ type: "m.room_membership", room_id: club }] } }],
    });
    const space = await create(owner.access_token, { preset: "public_chat", creation_content: { type: "m.space" } });
    await addChild(owner.access_token, space, restricted);
    assert.deepEqual(roomIds((await get(outsider.access_token, space)).body), [space]);
    await h.http.call("POST", `/_matrix/client/v3/join/${club}`, {}, outsider.access_token);
    const listed = await get(outsider.access_token, space);
    assert.deepEqual(roomIds(listed.body), [space, restricted]);
    assert.deepEqual(listed.body.rooms[1].allowed_room_ids, [club]);
    assert.equal(listed.body.rooms[1].room_version, "10");
  });
});
