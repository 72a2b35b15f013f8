/**
 * Profiles and server information over real HTTP: a display name change is
 * stored and announced in the user's rooms; others may not change it.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { stateKey } from "../../src/room/types.js";
import { assertSpecResponse } from "../support/spec.js";
import { describeOnEachEngine } from "../support/server.js";

describeOnEachEngine("profiles and server info", { server_name: "prof.test", registration: { enabled: true } }, (h) => {
  const { call, register } = h.http;

  it("starts a new user with their localpart as display name", async () => {
    await register("erin");
    const res = await call("GET", "/_matrix/client/v3/profile/@erin:prof.test");
    assert.deepEqual(res.body, { displayname: "erin" });
    assertSpecResponse("client-server", "profile.yaml", "GET", "/profile/{userId}", 200, res.body);
    const missing = await call("GET", "/_matrix/client/v3/profile/@nobody:prof.test");
    assert.equal(missing.status, 404);
    assert.equal(missing.body.errcode, "M_NOT_FOUND");
  });

  it("changes the display name, announces it in joined rooms, and refuses others", async () => {
    const frank = await register("frank");
    const gina = await register("gina");
    const hs = h.server.context;
    const roomId = (await hs.localEvents.createRoom(frank.user_id, "10")).event.roomId;
    await hs.localEvents.send(roomId, { type: "m.room.member", stateKey: frank.user_id, sender: frank.user_id, content: { membership: "join", displayname: "frank" } });

    const put = await call("PUT", `/_matrix/client/v3/profile/${frank.user_id}/displayname`, { displayname: "Frank F." }, frank.access_token);
    assert.equal(put.status, 200);
    assert.deepEqual((await call("GET", `/_matrix/client/v3/profile/${frank.user_id}/displayname`)).body, { displayname: "Frank F." });
    const memberId = (await hs.states.currentState(roomId)).get(stateKey("m.room.member", frank.user_id));
    const member = await hs.events.getEvent(memberId!);
    assert.deepEqual(member?.event.content, { membership: "join", displayname: "Frank F." });

    const other = await call("PUT", `/_matrix/client/v3/profile/${frank.user_id}/displayname`, { displayname: "hacked" }, gina.access_token);
    assert.equal(other.status, 403);
    const badType = await call("PUT", `/_matrix/client/v3/profile/${frank.user_id}/avatar_url`, { avatar_url: 5 }, frank.access_token);
    assert.equal(badType.status, 400);
    assert.deepEqual((await call("GET", `/_matrix/client/v3/profile/${frank.user_id}`)).body, { displayname: "Frank F." });
  });

  it("lists every room version in /capabilities and names the default", async () => {
    const u = await register("hank");
    const res = await call("GET", "/_matrix/client/v3/capabilities", undefined, u.access_token);
    assert.equal(res.status, 200);
    assertSpecResponse("client-server", "capabilities.yaml", "GET", "/capabilities", 200, res.body);
    const rv = res.body.capabilities["m.room_versions"];
    assert.equal(rv.default, "12");
    assert.deepEqual(Object.keys(rv.available).sort((a, b) => Number(a) - Number(b)), ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"]);
    assert.equal((await call("GET", "/_matrix/client/v3/capabilities")).status, 401);
  });

  it("serves the default push rules in the spec's shape", async () => {
    const u = await register("pushy");
    const res = await call("GET", "/_matrix/client/v3/pushrules/", undefined, u.access_token);
    assert.equal(res.status, 200);
    assertSpecResponse("client-server", "pushrules.yaml", "GET", "/pushrules/", 200, res.body);
    const mention = res.body.global.override.find((r: { rule_id: string }) => r.rule_id === ".m.rule.is_user_mention");
    assert.equal(mention.conditions[0].value, u.user_id);
    assert.equal(res.body.global.underride.at(-1).rule_id, ".m.rule.encrypted");
    assert.equal((await call("GET", "/_matrix/client/v3/pushrules/")).status, 401);
  });

  it("serves /.well-known/matrix/client", async () => {
    const res = await call("GET", "/.well-known/matrix/client");
    assert.equal(res.status, 200);
    assert.equal(typeof res.body["m.homeserver"].base_url, "string");
  });
});
