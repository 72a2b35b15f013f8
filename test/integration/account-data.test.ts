/**
 * Account data and tags over real HTTP: stored per user and room, private
 * to their owner, server-controlled types refused, changes ordered in the
 * account-data stream for /sync.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { assertSpecResponse } from "../support/spec.js";
import { describeOnEachEngine } from "../support/server.js";

describeOnEachEngine("account data", { server_name: "ad.test", registration: { enabled: true } }, (h) => {
  const { call, register } = h.http;

  it("stores global and room account data for their owner only", async () => {
    const ivy = await register("ivy");
    const jon = await register("jon");
    const base = `/_matrix/client/v3/user/${ivy.user_id}`;
    assert.equal((await call("GET", `${base}/account_data/org.example.theme`, undefined, ivy.access_token)).status, 404);
    assert.equal((await call("PUT", `${base}/account_data/org.example.theme`, { colour: "green" }, ivy.access_token)).status, 200);
    const got = await call("GET", `${base}/account_data/org.example.theme`, undefined, ivy.access_token);
    assert.deepEqual(got.body, { colour: "green" });
    await call("PUT", `${base}/account_data/org.example.theme`, { colour: "blue" }, ivy.access_token);
    assert.deepEqual((await call("GET", `${base}/account_data/org.example.theme`, undefined, ivy.access_token)).body, { colour: "blue" });

    await call("PUT", `${base}/rooms/!r:ad.test/account_data/org.example.note`, { n: 1 }, ivy.access_token);
    assert.deepEqual((await call("GET", `${base}/rooms/!r:ad.test/account_data/org.example.note`, undefined, ivy.access_token)).body, { n: 1 });
    assert.equal((await call("GET", `${base}/account_data/org.example.note`, undefined, ivy.access_token)).status, 404, "room data is not global");

    const other = await call("GET", `${base}/account_data/org.example.theme`, undefined, jon.access_token);
    assert.equal(other.status, 403);
    assertSpecResponse("client-server", "account-data.yaml", "GET", "/user/{userId}/account_data/{type}", 403, other.body);
    assert.equal((await call("PUT", `${base}/account_data/org.example.theme`, { colour: "red" }, jon.access_token)).status, 403);
    assert.deepEqual((await call("GET", `${base}/account_data/org.example.theme`, undefined, ivy.access_token)).body, { colour: "blue" });
  });

  it("refuses server-controlled types and bodies that are not objects, changing nothing", async () => {
    const kim = await register("kim");
    const base = `/_matrix/client/v3/user/${kim.user_id}`;
    const fully = await call("PUT", `${base}/rooms/!r:ad.test/account_data/m.fully_read`, { event_id: "$x" }, kim.access_token);
    assert.equal(fully.status, 405);
    assert.equal(fully.body.errcode, "M_BAD_JSON");
    assert.equal((await call("GET", `${base}/rooms/!r:ad.test/account_data/m.fully_read`, undefined, kim.access_token)).status, 404);
    const notObject = await call("PUT", `${base}/account_data/org.example.x`, "[1]", kim.access_token);
    assert.equal(notObject.status, 400);
    const notJson = await call("PUT", `${base}/account_data/org.example.x`, "{oops", kim.access_token);
    assert.equal(notJson.body.errcode, "M_NOT_JSON");
    assert.equal((await call("GET", `${base}/account_data/org.example.x`, undefined, kim.access_token)).status, 404);
  });

  it("keeps tags as m.tag room account data", async () => {
    const lou = await register("lou");
    const base = `/_matrix/client/v3/user/${lou.user_id}/rooms/!t:ad.test`;
    assert.deepEqual((await call("GET", `${base}/tags`, undefined, lou.access_token)).body, { tags: {} });
    await call("PUT", `${base}/tags/m.favourite`, { order: 0.25 }, lou.access_token);
    await call("PUT", `${base}/tags/u.work`, {}, lou.access_token);
    const tags = await call("GET", `${base}/tags`, undefined, lou.access_token);
    assert.deepEqual(tags.body, { tags: { "m.favourite": { order: 0.25 }, "u.work": {} } });
    assertSpecResponse("client-server", "tags.yaml", "GET", "/user/{userId}/rooms/{roomId}/tags", 200, tags.body);
    assert.equal((await call("PUT", `${base}/tags/bad`, { order: 3 }, lou.access_token)).status, 400);
    await call("DELETE", `${base}/tags/u.work`, undefined, lou.access_token);
    assert.deepEqual((await call("GET", `${base}/account_data/m.tag`, undefined, lou.access_token)).body, { tags: { "m.favourite": { order: 0.25 } } });
  });

  it("orders changes in the account-data stream", async () => {
    const store = h.server.context.accountData;
    const max = await register("max");
    const start = store.stream.position;
    await store.put(max.user_id, null, "a", { v: 1 });
    const mid = store.stream.position;
    await store.put(max.user_id, "!r:ad.test", "b", { v: 2 });
    assert.ok(mid > start && store.stream.position > mid);
    const since = await store.changedSince(max.user_id, mid);
    assert.deepEqual(since, [{ roomId: "!r:ad.test", type: "b", content: { v: 2 } }]);
    assert.equal((await store.changedSince(max.user_id, 0)).length, 2);
  });
});
