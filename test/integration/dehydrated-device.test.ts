/**
 * Dehydrated devices (MSC3814) over real HTTP: a device with keys and no
 * session that others can encrypt to; its waiting to-device messages are
 * read page by page and deleted once the client says it has them;
 * replacing it removes the old device with its keys and messages; bad
 * keys change nothing. (The js-sdk E2EE test rehydrates one for real.)
 */
import { before, it } from "node:test";
import assert from "node:assert/strict";
import { deviceKeys, keyPair, oneTimeKeys } from "../support/e2e-keys.js";
import { describeOnEachEngine } from "../support/server.js";
import type { Registered } from "../support/http.js";

const V3 = "/_matrix/client/v3";
const DH = "/_matrix/client/unstable/org.matrix.msc3814.v1";

describeOnEachEngine("dehydrated devices", { server_name: "dh.test", registration: { enabled: true } }, (h) => {
  let ann: Registered;
  let ben: Registered;
  const call = (method: string, path: string, body?: unknown, token?: string) => h.http.call(method, path, body, token);
  const dehydrate = (deviceId: string, pair = keyPair(), extra: Record<string, unknown> = {}) =>
    call("PUT", `${DH}/dehydrated_device`, {
      device_id: deviceId,
      device_data: { algorithm: "org.matrix.msc3814.v1.olm", device_pickle: "opaque", nonce: "n" },
      initial_device_display_name: "Dehydrated device",
      device_keys: deviceKeys(ann.user_id, deviceId, pair),
      one_time_keys: oneTimeKeys(ann.user_id, deviceId, pair, ["A1", "A2"]),
      ...extra,
    }, ann.access_token);
  const queryDevices = async () => {
    const r = await call("POST", `${V3}/keys/query`, { device_keys: { [ann.user_id]: [] } }, ben.access_token);
    return Object.keys(r.body.device_keys[ann.user_id] ?? {}).sort();
  };

  before(async () => {
    ann = await h.http.register("ann");
    ben = await h.http.register("ben");
  });

  it("answers 404 M_NOT_FOUND before there is one, and says it supports them", async () => {
    const none = await call("GET", `${DH}/dehydrated_device`, undefined, ann.access_token);
    assert.equal(none.status, 404);
    assert.equal(none.body.errcode, "M_NOT_FOUND");
    assert.equal((await call("GET", `${DH}/dehydrated_device`)).status, 401);
    const versions = await call("GET", "/_matrix/client/versions");
    assert.equal(versions.body.unstable_features["org.matrix.msc3814"], true);
  });

  it("stores a dehydrated device that others see and can message, and pages its messages", async () => {
    const put = await dehydrate("DEHYD1");
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.deepEqual(put.body, { device_id: "DEHYD1" });
    const got = await call("GET", `${DH}/dehydrated_device`, undefined, ann.access_token);
    assert.equal(got.body.device_id, "DEHYD1");
    assert.equal(got.body.device_data.device_pickle, "opaque");
    assert.ok((await queryDevices()).includes("DEHYD1"));
    // Its one-time keys can be claimed, as for any device.
    const claim = await call("POST", `${V3}/keys/claim`, { one_time_keys: { [ann.user_id]: { DEHYD1: "signed_curve25519" } } }, ben.access_token);
    assert.equal(Object.keys(claim.body.one_time_keys[ann.user_id].DEHYD1).length, 1);

    // 150 messages, one send each, so their order is observable.
    for (let j = 0; j < 150; j++) {
      const r = await call("PUT", `${V3}/sendToDevice/m.room_key_test/t${j}`, { messages: { [ann.user_id]: { DEHYD1: { n: j } } } }, ben.access_token);
      assert.equal(r.status, 200);
    }
    const first = await call("POST", `${DH}/dehydrated_device/DEHYD1/events`, {}, ann.access_token);
    assert.equal(first.status, 200);
    assert.equal(first.body.events.length, 100);
    assert.deepEqual(first.body.events[0], { sender: ben.user_id, type: "m.room_key_test", content: { n: 0 } });
    const second = await call("POST", `${DH}/dehydrated_device/DEHYD1/events`, { next_batch: first.body.next_batch }, ann.access_token);
    assert.deepEqual(second.body.events.map((e: { content: { n: number } }) => e.content.n), Array.from({ length: 50 }, (_, k) => 100 + k));
    const done = await call("POST", `${DH}/dehydrated_device/DEHYD1/events`, { next_batch: second.body.next_batch }, ann.access_token);
    assert.deepEqual(done.body.events, []);
    const left = await h.server.context.db.knex("to_device_messages").where({ user_id: ann.user_id, device_id: "DEHYD1" }).count({ n: "*" }).first();
    assert.equal(Number(left?.n), 0, "read messages are deleted");

    const notMine = await call("POST", `${DH}/dehydrated_device/SOMEOTHER/events`, {}, ann.access_token);
    assert.equal(notMine.status, 403);
    assert.equal(notMine.body.errcode, "M_FORBIDDEN");
    const badBatch = await call("POST", `${DH}/dehydrated_device/DEHYD1/events`, { next_batch: "nonsense" }, ann.access_token);
    assert.equal(badBatch.status, 400);
  });

  it("replaces the old device with its keys and messages, and refuses bad keys without a change", async () => {
    await call("PUT", `${V3}/sendToDevice/m.room_key_test/left-behind`, { messages: { [ann.user_id]: { DEHYD1: { stale: true } } } }, ben.access_token);
    const put = await dehydrate("DEHYD2");
    assert.equal(put.status, 200);
    const devices = await queryDevices();
    assert.ok(devices.includes("DEHYD2") && !devices.includes("DEHYD1"), devices.join(","));
    const stale = await h.server.context.db.knex("to_device_messages").where({ user_id: ann.user_id, device_id: "DEHYD1" }).count({ n: "*" }).first();
    assert.equal(Number(stale?.n), 0);

    // Keys signed by another key: refused, and DEHYD2 stays.
    const badKeys = deviceKeys(ann.user_id, "DEHYD3", keyPair());
    (badKeys.signatures as Record<string, Record<string, string>>)[ann.user_id][`ed25519:DEHYD3`] = "A".repeat(86);
    const bad = await dehydrate("DEHYD3", keyPair(), { device_keys: badKeys, one_time_keys: undefined });
    assert.equal(bad.status, 400);
    assert.equal((await call("GET", `${DH}/dehydrated_device`, undefined, ann.access_token)).body.device_id, "DEHYD2");
    assert.ok(!(await queryDevices()).includes("DEHYD3"));

    const noData = await call("PUT", `${DH}/dehydrated_device`, { device_id: "DEHYD4" }, ann.access_token);
    assert.equal(noData.status, 400);
    assert.equal(noData.body.errcode, "M_BAD_JSON");
    // A device id the user already logs in with is not taken over.
    const mine = await call("PUT", `${DH}/dehydrated_device`, { device_id: ann.device_id, device_data: { algorithm: "x" } }, ann.access_token);
    assert.equal(mine.status, 400);
    assert.equal((await call("GET", `${DH}/dehydrated_device`, undefined, ann.access_token)).body.device_id, "DEHYD2");
  });

  it("deletes it, with its keys", async () => {
    const del = await call("DELETE", `${DH}/dehydrated_device`, undefined, ann.access_token);
    assert.deepEqual(del.body, { device_id: "DEHYD2" });
    assert.equal((await call("GET", `${DH}/dehydrated_device`, undefined, ann.access_token)).status, 404);
    assert.ok(!(await queryDevices()).includes("DEHYD2"));
    assert.equal((await call("DELETE", `${DH}/dehydrated_device`, undefined, ann.access_token)).status, 404);
  });
});
