/** Room upgrades: state and power carried over, tombstone, aliases moved, old room muted. */
import { it } from "node:test";
import assert from "node:assert/strict";
import { assertSpecResponse } from "../support/spec.js";
import { describeOnEachEngine } from "../support/server.js";

describeOnEachEngine("room upgrades", { server_name: "up.test", registration: { enabled: true } }, (h) => {
  const { call, register } = h.http;

  for (const [from, to] of [["10", "12"], ["12", "11"]]) {
    it(`upgrades a v${from} room to v${to}`, async () => {
      const admin = await register(`adm${from}`);
      const mod = await register(`mod${from}`);
      const old = (await call("POST", "/_matrix/client/v3/createRoom", {
        room_version: from, preset: "public_chat", name: "Old name", topic: "Old topic", room_alias_name: `hall${from}`,
        // v12 creators may not be listed; before v12 the override must keep the creator's power.
        power_level_content_override: { users: from === "12" ? { [mod.user_id]: 50 } : { [admin.user_id]: 100, [mod.user_id]: 50 } },
      }, admin.access_token)).body.room_id as string;
      await call("POST", `/_matrix/client/v3/join/${old}`, {}, mod.access_token);

      const denied = await call("POST", `/_matrix/client/v3/rooms/${old}/upgrade`, { new_version: to }, mod.access_token);
      assert.equal(denied.status, 403);
      const bad = await call("POST", `/_matrix/client/v3/rooms/${old}/upgrade`, { new_version: "99" }, admin.access_token);
      assert.equal(bad.body.errcode, "M_UNSUPPORTED_ROOM_VERSION");

      const res = await call("POST", `/_matrix/client/v3/rooms/${old}/upgrade`, { new_version: to }, admin.access_token);
      assert.equal(res.status, 200);
      assertSpecResponse("client-server", "room_upgrades.yaml", "POST", "/rooms/{roomId}/upgrade", 200, res.body);
      const neu = res.body.replacement_room as string;
      const get = (room: string, type: string) => call("GET", `/_matrix/client/v3/rooms/${room}/state/${type}`, undefined, admin.access_token);

      assert.deepEqual((await get(neu, "m.room.create")).body.predecessor, { room_id: old });
      assert.equal((await get(neu, "m.room.create")).body.room_version, to);
      assert.equal((await get(neu, "m.room.name")).body.name, "Old name");
      assert.equal((await get(neu, "m.room.topic")).body.topic, "Old topic");
      assert.equal((await get(neu, "m.room.join_rules")).body.join_rule, "public");
      const pl = (await get(neu, "m.room.power_levels")).body;
      assert.equal(pl.users[mod.user_id], 50, "users' power carried");
      if (to === "12") assert.equal(pl.users[admin.user_id], undefined, "a v12 creator is not listed");
      else assert.equal(pl.users[admin.user_id], 100, "a v12 creator keeps its power as a plain admin");
      assert.equal((await get(neu, "m.room.canonical_alias")).body.alias, `#hall${from}:up.test`);
      const resolved = await call("GET", `/_matrix/client/v3/directory/room/${encodeURIComponent(`#hall${from}:up.test`)}`);
      assert.equal(resolved.body.room_id, neu, "the alias moved");

      const tomb = (await get(old, "m.room.tombstone")).body;
      assert.equal(tomb.replacement_room, neu);
      const oldPl = (await get(old, "m.room.power_levels")).body;
      assert.equal(oldPl.events_default, 50);
      const muted = await call("PUT", `/_matrix/client/v3/rooms/${old}/send/m.room.message/x`, { msgtype: "m.text", body: "hi" }, mod.access_token);
      assert.equal(muted.status, 200, "a moderator (50) may still speak");
      const newcomer = await register(`nc${from}`);
      await call("POST", `/_matrix/client/v3/join/${neu}`, {}, newcomer.access_token);
      assert.equal(await h.server.context.states.membershipOf(neu, newcomer.user_id), "join");
    });
  }

  it("carries users' push rules for the old room over to the new one, for the upgrader and those who join it", async () => {
    const ann = await register("rules-ann");
    const ben = await register("rules-ben");
    const old = (await call("POST", "/_matrix/client/v3/createRoom", { room_version: "10", preset: "public_chat" }, ann.access_token)).body.room_id as string;
    await call("POST", `/_matrix/client/v3/join/${old}`, {}, ben.access_token);
    for (const who of [ann, ben]) {
      const put = await call("PUT", `/_matrix/client/v3/pushrules/global/room/${encodeURIComponent(old)}`, { actions: ["dont_notify"] }, who.access_token);
      assert.equal(put.status, 200, JSON.stringify(put.body));
    }
    const neu = (await call("POST", `/_matrix/client/v3/rooms/${old}/upgrade`, { new_version: "11" }, ann.access_token)).body.replacement_room as string;
    await call("POST", `/_matrix/client/v3/join/${neu}`, {}, ben.access_token);
    for (const who of [ann, ben]) {
      const rules = (await call("GET", "/_matrix/client/v3/pushrules/", undefined, who.access_token)).body.global.room as { rule_id: string; actions: unknown[] }[];
      const ids = rules.map((r) => r.rule_id);
      assert.ok(ids.includes(old) && ids.includes(neu), `${who.user_id}: ${ids.join(", ")}`);
      assert.deepEqual(rules.find((r) => r.rule_id === neu)?.actions, ["dont_notify"]);
    }
  });
});
