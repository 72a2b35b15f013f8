/** Reporting events, rooms and users over real HTTP, and the admin's list of event reports. */
import { it } from "node:test";
import assert from "node:assert/strict";
import { describeOnEachEngine } from "../support/server.js";
import { assertSpecResponse } from "../support/spec.js";

describeOnEachEngine("content reports", { server_name: "report.test", registration: { enabled: true } }, (h) => {
  const login = async (user: string, password: string) => {
    const r = await h.http.call("POST", "/_matrix/client/v3/login", { type: "m.login.password", identifier: { type: "m.id.user", user }, password });
    assert.equal(r.status, 200);
    return r.body.access_token as string;
  };

  it("stores an event report from a member, with 404 for what the reporter cannot see, and lists it to admins", async () => {
    const poster = await h.http.register("poster");
    const reporter = await h.http.register("reporter");
    const outsider = await h.http.register("outsider");
    const room = await h.http.call("POST", "/_matrix/client/v3/createRoom", { preset: "public_chat", name: "Rough room" }, poster.access_token);
    const roomId = room.body.room_id as string;
    await h.http.call("POST", `/_matrix/client/v3/join/${roomId}`, {}, reporter.access_token);
    const sent = await h.http.call("PUT", `/_matrix/client/v3/rooms/${roomId}/send/m.room.message/1`, { msgtype: "m.text", body: "rude" }, poster.access_token);
    const eventId = sent.body.event_id as string;
    const path = `/_matrix/client/v3/rooms/${roomId}/report/${encodeURIComponent(eventId)}`;

    const ok = await h.http.call("POST", path, { reason: "this makes me sad", score: -100 }, reporter.access_token);
    assert.equal(ok.status, 200);
    assertSpecResponse("client-server", "report_content.yaml", "POST", "/rooms/{roomId}/report/{eventId}", 200, ok.body);
    assert.equal((await h.http.call("POST", path, {}, reporter.access_token)).status, 200, "reason is optional");

    const notMember = await h.http.call("POST", path, { reason: "x" }, outsider.access_token);
    assert.equal(notMember.status, 404);
    assertSpecResponse("client-server", "report_content.yaml", "POST", "/rooms/{roomId}/report/{eventId}", 404, notMember.body);
    assert.equal((await h.http.call("POST", `/_matrix/client/v3/rooms/${roomId}/report/${encodeURIComponent("$nope")}`, { reason: "x" }, reporter.access_token)).status, 404);
    assert.equal((await h.http.call("POST", path, { reason: 5 }, reporter.access_token)).status, 400);
    assert.equal((await h.http.call("POST", path, { score: 10 }, reporter.access_token)).status, 400);
    assert.equal((await h.http.call("POST", path, "not json", reporter.access_token)).status, 400);

    // The admin API lists event reports, newest first, to admins only.
    await h.server.context.accounts.createUser("@admin:report.test", "pw-admin", { admin: true });
    const admin = await login("admin", "pw-admin");
    assert.equal((await h.http.call("GET", "/_synapse/admin/v1/event_reports", undefined, reporter.access_token)).status, 403);
    const list = await h.http.call("GET", "/_synapse/admin/v1/event_reports?limit=1", undefined, admin);
    assert.equal(list.status, 200);
    assert.equal(list.body.total, 2);
    assert.equal(list.body.next_token, 1);
    const [latest] = list.body.event_reports;
    assert.equal(latest.event_id, eventId);
    assert.equal(latest.user_id, reporter.user_id);
    assert.equal(latest.sender, poster.user_id);
    assert.equal(latest.name, "Rough room");
    assert.equal(latest.reason, null);
    const older = await h.http.call("GET", `/_synapse/admin/v1/event_reports?from=${list.body.next_token}`, undefined, admin);
    assert.equal(older.body.event_reports[0].reason, "this makes me sad");
    assert.equal(older.body.event_reports[0].score, -100);
    assert.equal(older.body.next_token, undefined);
    const one = await h.http.call("GET", `/_synapse/admin/v1/event_reports/${latest.id}`, undefined, admin);
    assert.equal(one.body.event_json.content.body, "rude");
    assert.equal((await h.http.call("GET", "/_synapse/admin/v1/event_reports/99999", undefined, admin)).status, 404);
  });

  it("stores room and user reports, 404 for unknown ones, 400 without a reason", async () => {
    const u = await h.http.register("roomreporter");
    const target = await h.http.register("baduser");
    const room = await h.http.call("POST", "/_matrix/client/v3/createRoom", { preset: "private_chat" }, target.access_token);
    const roomId = room.body.room_id as string;

    const r = await h.http.call("POST", `/_matrix/client/v3/rooms/${roomId}/report`, { reason: "spam" }, u.access_token);
    assert.equal(r.status, 200, "no need to be in the room");
    assertSpecResponse("client-server", "report_content.yaml", "POST", "/rooms/{roomId}/report", 200, r.body);
    const unknownRoom = await h.http.call("POST", `/_matrix/client/v3/rooms/${encodeURIComponent("!gone:report.test")}/report`, { reason: "spam" }, u.access_token);
    assert.equal(unknownRoom.status, 404);
    assertSpecResponse("client-server", "report_content.yaml", "POST", "/rooms/{roomId}/report", 404, unknownRoom.body);
    assert.equal((await h.http.call("POST", `/_matrix/client/v3/rooms/${roomId}/report`, {}, u.access_token)).status, 400);

    const userPath = (id: string) => `/_matrix/client/v3/users/${encodeURIComponent(id)}/report`;
    const ur = await h.http.call("POST", userPath(target.user_id), { reason: "" }, u.access_token);
    assert.equal(ur.status, 200, "the reason may be blank");
    assertSpecResponse("client-server", "report_content.yaml", "POST", "/users/{userId}/report", 200, ur.body);
    const nobody = await h.http.call("POST", userPath("@nobody:report.test"), { reason: "x" }, u.access_token);
    assert.equal(nobody.status, 404);
    assertSpecResponse("client-server", "report_content.yaml", "POST", "/users/{userId}/report", 404, nobody.body);
    assert.equal((await h.http.call("POST", userPath("not-a-user"), { reason: "x" }, u.access_token)).status, 400);
    assert.equal((await h.http.call("POST", userPath(target.user_id), {}, u.access_token)).status, 400);

    const rows = await h.server.context.db.knex("content_reports").whereIn("kind", ["room", "user"]).orderBy("id").select("kind", "room_id", "target_user_id", "reporter", "reason");
    assert.deepEqual(rows, [
      { kind: "room", room_id: roomId, target_user_id: null, reporter: u.user_id, reason: "spam" },
      { kind: "user", room_id: null, target_user_id: target.user_id, reporter: u.user_id, reason: "" },
    ]);
  });
});
