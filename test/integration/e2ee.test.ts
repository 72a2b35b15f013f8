/**
 * End-to-end encryption support over real HTTP: device management, key
 * upload with signature checks, queries, claims (one-time then fallback),
 * device-list changes in /sync and /keys/changes, to-device messages
 * (ordered, idempotent, deleted once synced past, kept across a restart),
 * cross-signing keys and signatures. Bad input changes nothing.
 */
import { before, it } from "node:test";
import assert from "node:assert/strict";
import { startHomeserver } from "../../src/homeserver.js";
import { createLogger } from "../../src/logger.js";
import { crossSigningKey, deviceKeys, keyPair, oneTimeKeys, signed, type KeyPair } from "../support/e2e-keys.js";
import { describeOnEachEngine } from "../support/server.js";
import { assertSpecResponse } from "../support/spec.js";
import type { Registered } from "../support/http.js";

const V3 = "/_matrix/client/v3";
const SETTINGS = { server_name: "e2e.test", registration: { enabled: true } };

describeOnEachEngine("end-to-end encryption support", SETTINGS, (h) => {
  let ann: Registered;
  let ben: Registered;
  let cat: Registered;
  let roomId: string;
  const annKey = keyPair();
  const call = (method: string, path: string, body?: unknown, token?: string) => h.http.call(method, path, body, token);
  const sync = (who: Registered, since?: string) =>
    call("GET", `${V3}/sync?timeout=0${since ? `&since=${encodeURIComponent(since)}` : ""}`, undefined, who.access_token);

  before(async () => {
    ann = await h.http.register("ann");
    ben = await h.http.register("ben");
    cat = await h.http.register("cat");
    const created = await call("POST", `${V3}/createRoom`, { preset: "public_chat" }, ann.access_token);
    roomId = created.body.room_id;
    assert.equal((await call("POST", `${V3}/join/${encodeURIComponent(roomId)}`, {}, ben.access_token)).status, 200);
  });

  it("lists, reads and renames devices; unknown devices are 404", async () => {
    const list = await call("GET", `${V3}/devices`, undefined, ann.access_token);
    assertSpecResponse("client-server", "device_management.yaml", "GET", "/devices", 200, list.body);
    assert.deepEqual(list.body.devices.map((d: { device_id: string }) => d.device_id), [ann.device_id]);
    const put = await call("PUT", `${V3}/devices/${ann.device_id}`, { display_name: "Ann's laptop" }, ann.access_token);
    assert.equal(put.status, 200);
    const one = await call("GET", `${V3}/devices/${ann.device_id}`, undefined, ann.access_token);
    assertSpecResponse("client-server", "device_management.yaml", "GET", "/devices/{deviceId}", 200, one.body);
    assert.equal(one.body.display_name, "Ann's laptop");
    assert.ok(one.body.last_seen_ts > Date.now() - 60_000, "last seen when the token was last used");
    assert.match(one.body.last_seen_ip, /127\.0\.0\.1/);
    assert.equal((await call("GET", `${V3}/devices/NOPE`, undefined, ann.access_token)).body.errcode, "M_NOT_FOUND");
    assert.equal((await call("PUT", `${V3}/devices/NOPE`, { display_name: "x" }, ann.access_token)).status, 404);
    // Another user's device is not yours to see.
    assert.equal((await call("GET", `${V3}/devices/${ann.device_id}`, undefined, ben.access_token)).status, 404);
  });

  it("rejects device keys that are not self-signed or not the caller's, storing nothing", async () => {
    const other = keyPair();
    const forged = { ...deviceKeys(ann.user_id, ann.device_id, annKey), signatures: deviceKeys(ann.user_id, ann.device_id, other).signatures };
    const bad = await call("POST", `${V3}/keys/upload`, { device_keys: forged, one_time_keys: oneTimeKeys(ann.user_id, ann.device_id, annKey, ["A1"]) }, ann.access_token);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.errcode, "M_INVALID_SIGNATURE");
    // Keys with no self-signature at all are the receiving clients' to distrust; the server keeps them, as others do (Complement: TestDeviceListUpdates).
    const unsignedLogin = (await call("POST", `${V3}/login`, { type: "m.login.password", identifier: { type: "m.id.user", user: "ann" }, password: "pw-ann" })).body as Registered;
    const unsigned = { ...deviceKeys(ann.user_id, unsignedLogin.device_id, keyPair()), signatures: {} };
    const kept = await call("POST", `${V3}/keys/upload`, { device_keys: unsigned }, unsignedLogin.access_token);
    assert.equal(kept.status, 200, JSON.stringify(kept.body));
    await call("POST", `${V3}/logout`, {}, unsignedLogin.access_token);
    const wrongDevice = await call("POST", `${V3}/keys/upload`, { device_keys: deviceKeys(ann.user_id, "OTHER", annKey) }, ann.access_token);
    assert.equal(wrongDevice.body.errcode, "M_INVALID_PARAM");
    const q = await call("POST", `${V3}/keys/query`, { device_keys: { [ann.user_id]: [] } }, ben.access_token);
    assert.deepEqual(q.body.device_keys[ann.user_id], {});
    const counts = await call("POST", `${V3}/keys/upload`, {}, ann.access_token);
    assert.deepEqual(counts.body.one_time_key_counts, {});
  });

  it("stores keys, tells room members through /sync, and answers queries", async () => {
    const benStart = (await sync(ben)).body.next_batch as string;
    const up = await call("POST", `${V3}/keys/upload`, {
      device_keys: deviceKeys(ann.user_id, ann.device_id, annKey),
      one_time_keys: oneTimeKeys(ann.user_id, ann.device_id, annKey, ["A1", "A2", "A3"]),
      fallback_keys: oneTimeKeys(ann.user_id, ann.device_id, annKey, ["F1"], { fallback: true }),
    }, ann.access_token);
    assertSpecResponse("client-server", "keys.yaml", "POST", "/keys/upload", 200, up.body);
    assert.deepEqual(up.body.one_time_key_counts, { signed_curve25519: 3 });
    // The same upload again is a retry: nothing doubles.
    const again = await call("POST", `${V3}/keys/upload`, { one_time_keys: oneTimeKeys(ann.user_id, ann.device_id, annKey, ["A4"]) }, ann.access_token);
    assert.deepEqual(again.body.one_time_key_counts, { signed_curve25519: 4 });
    // A one-time key with a bad signature is refused and nothing of that upload is kept.
    const forgedOtk = oneTimeKeys(ann.user_id, ann.device_id, keyPair(), ["B1"]);
    const refused = await call("POST", `${V3}/keys/upload`, { one_time_keys: { ...oneTimeKeys(ann.user_id, ann.device_id, annKey, ["B0"]), ...forgedOtk } }, ann.access_token);
    assert.equal(refused.body.errcode, "M_INVALID_SIGNATURE");

    const benSync = await sync(ben, benStart);
    assertSpecResponse("client-server", "sync.yaml", "GET", "/sync", 200, benSync.body);
    assert.deepEqual(benSync.body.device_lists.changed, [ann.user_id]);
    const annSync = await sync(ann);
    assert.deepEqual(annSync.body.device_one_time_keys_count, { signed_curve25519: 4 });
    assert.deepEqual(annSync.body.device_unused_fallback_key_types, ["signed_curve25519"]);

    const q = await call("POST", `${V3}/keys/query`, { device_keys: { [ann.user_id]: [] } }, ben.access_token);
    assertSpecResponse("client-server", "keys.yaml", "POST", "/keys/query", 200, q.body);
    const dev = q.body.device_keys[ann.user_id][ann.device_id];
    assert.equal(dev.keys[`ed25519:${ann.device_id}`], annKey.publicKey);
    assert.equal(dev.unsigned.device_display_name, "Ann's laptop");
    const changes = await call("GET", `${V3}/keys/changes?from=${encodeURIComponent(benStart)}&to=${encodeURIComponent(benSync.body.next_batch)}`, undefined, ben.access_token);
    assertSpecResponse("client-server", "keys.yaml", "GET", "/keys/changes", 200, changes.body);
    assert.deepEqual(changes.body.changed, [ann.user_id]);
  });

  it("claims each one-time key once, then the fallback key; unknown devices get nothing", async () => {
    const claimed = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const c = await call("POST", `${V3}/keys/claim`, { one_time_keys: { [ann.user_id]: { [ann.device_id]: "signed_curve25519", NOPE: "signed_curve25519" } } }, ben.access_token);
      assertSpecResponse("client-server", "keys.yaml", "POST", "/keys/claim", 200, c.body);
      const keys = Object.keys(c.body.one_time_keys[ann.user_id][ann.device_id]);
      assert.equal(keys.length, 1);
      assert.equal(c.body.one_time_keys[ann.user_id].NOPE, undefined);
      claimed.add(keys[0]);
    }
    assert.equal(claimed.size, 4);
    const fallback = await call("POST", `${V3}/keys/claim`, { one_time_keys: { [ann.user_id]: { [ann.device_id]: "signed_curve25519" } } }, ben.access_token);
    const [id] = Object.keys(fallback.body.one_time_keys[ann.user_id][ann.device_id]);
    assert.equal(id, "signed_curve25519:F1");
    const annSync = await sync(ann);
    assert.deepEqual(annSync.body.device_one_time_keys_count, {});
    assert.deepEqual(annSync.body.device_unused_fallback_key_types, []);
    // The fallback key stays claimable: a session is better than none.
    const twice = await call("POST", `${V3}/keys/claim`, { one_time_keys: { [ann.user_id]: { [ann.device_id]: "signed_curve25519" } } }, ben.access_token);
    assert.deepEqual(Object.keys(twice.body.one_time_keys[ann.user_id][ann.device_id]), ["signed_curve25519:F1"]);
  });

  it("delivers to-device messages in order, once per transaction, and deletes them once synced past", async () => {
    const start = (await sync(ann)).body.next_batch as string;
    const send = (txn: string, n: number, target = ann.device_id) =>
      call("PUT", `${V3}/sendToDevice/m.test/${txn}`, { messages: { [ann.user_id]: { [target]: { n } } } }, ben.access_token);
    assert.equal((await send("t1", 1)).status, 200);
    assert.equal((await send("t1", 1)).status, 200); // a retry: no second copy
    assert.equal((await send("t2", 2, "*")).status, 200);
    const bad = await call("PUT", `${V3}/sendToDevice/m.test/t3`, { messages: { [ann.user_id]: { [ann.device_id]: "not an object" } } }, ben.access_token);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.errcode, "M_BAD_JSON");
    const notUser = await call("PUT", `${V3}/sendToDevice/m.test/t4`, { messages: { "not-a-user": { X: {} } } }, ben.access_token);
    assert.equal(notUser.status, 400);

    const got = await sync(ann, start);
    assert.deepEqual(got.body.to_device.events, [
      { sender: ben.user_id, type: "m.test", content: { n: 1 } },
      { sender: ben.user_id, type: "m.test", content: { n: 2 } },
    ]);
    // Syncing from the same token again gets them again (the client may not have seen the answer)...
    assert.equal((await sync(ann, start)).body.to_device.events.length, 2);
    // ...and syncing past them deletes them.
    const next = await sync(ann, got.body.next_batch);
    assert.deepEqual(next.body.to_device.events, []);
    const left = await h.server.context.db.knex("to_device_messages").where({ user_id: ann.user_id }).count({ n: "*" }).first();
    assert.equal(Number(left?.n), 0);
  });

  it("keeps undelivered to-device messages across a restart", async () => {
    const start = (await sync(ann)).body.next_batch as string;
    await call("PUT", `${V3}/sendToDevice/m.test/r1`, { messages: { [ann.user_id]: { [ann.device_id]: { kept: true } } } }, ben.access_token);
    await h.server.stop();
    (h as { server: unknown }).server = await startHomeserver(h.db.config(SETTINGS), createLogger("warn"));
    const got = await sync(ann, start);
    assert.deepEqual(got.body.to_device.events, [{ sender: ben.user_id, type: "m.test", content: { kept: true } }]);
  });

  it("uploads cross-signing keys: the first freely, a replacement only after authentication", async () => {
    const master = keyPair();
    const selfSigning = keyPair();
    const userSigning = keyPair();
    const bad = await call("POST", `${V3}/keys/device_signing/upload`, {
      master_key: crossSigningKey(ann.user_id, "master", master),
      self_signing_key: crossSigningKey(ann.user_id, "self_signing", selfSigning, keyPair()),
    }, ann.access_token);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.errcode, "M_INVALID_SIGNATURE");
    const noMaster = await call("POST", `${V3}/keys/device_signing/upload`, { self_signing_key: crossSigningKey(ann.user_id, "self_signing", selfSigning, master) }, ann.access_token);
    assert.equal(noMaster.body.errcode, "M_MISSING_PARAM");

    const body = {
      master_key: crossSigningKey(ann.user_id, "master", master),
      self_signing_key: crossSigningKey(ann.user_id, "self_signing", selfSigning, master),
      user_signing_key: crossSigningKey(ann.user_id, "user_signing", userSigning, master),
    };
    const first = await call("POST", `${V3}/keys/device_signing/upload`, body, ann.access_token);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    // The same keys again need no authentication (a retry).
    assert.equal((await call("POST", `${V3}/keys/device_signing/upload`, body, ann.access_token)).status, 200);
    const otherMaster = keyPair();
    const replace = { master_key: crossSigningKey(ann.user_id, "master", otherMaster) };
    const challenged = await call("POST", `${V3}/keys/device_signing/upload`, replace, ann.access_token);
    assert.equal(challenged.status, 401);
    assert.ok(challenged.body.flows.some((f: { stages: string[] }) => f.stages.includes("m.login.password")));
    // Put the original back, authenticated.
    const authed = await call("POST", `${V3}/keys/device_signing/upload`, {
      ...body,
      auth: { type: "m.login.password", identifier: { type: "m.id.user", user: ann.user_id }, password: "pw-ann", session: challenged.body.session },
    }, ann.access_token);
    assert.equal(authed.status, 200, JSON.stringify(authed.body));

    const q = await call("POST", `${V3}/keys/query`, { device_keys: { [ann.user_id]: [] } }, ann.access_token);
    assert.equal(q.body.master_keys[ann.user_id].keys[`ed25519:${master.publicKey}`], master.publicKey);
    assert.ok(q.body.self_signing_keys[ann.user_id]);
    assert.ok(q.body.user_signing_keys[ann.user_id], "the owner sees their user-signing key");
    const qb = await call("POST", `${V3}/keys/query`, { device_keys: { [ann.user_id]: [] } }, ben.access_token);
    assert.equal(qb.body.user_signing_keys[ann.user_id], undefined, "others do not");

    // Ann's self-signing key vouches for her device; a forged signature is reported and not stored.
    const device = q.body.device_keys[ann.user_id][ann.device_id];
    const { unsigned: _u, ...deviceSigned } = device;
    const good = signed(deviceSigned, ann.user_id, `ed25519:${selfSigning.publicKey}`, selfSigning);
    const up = await call("POST", `${V3}/keys/signatures/upload`, { [ann.user_id]: { [ann.device_id]: good } }, ann.access_token);
    assertSpecResponse("client-server", "cross_signing.yaml", "POST", "/keys/signatures/upload", 200, up.body);
    assert.deepEqual(up.body.failures, {});
    const forged = signed(deviceSigned, ann.user_id, `ed25519:${selfSigning.publicKey}`, keyPair());
    const rejected = await call("POST", `${V3}/keys/signatures/upload`, { [ann.user_id]: { [ann.device_id]: forged } }, ann.access_token);
    assert.equal(rejected.body.failures[ann.user_id][ann.device_id].errcode, "M_INVALID_SIGNATURE");
    const seen = await call("POST", `${V3}/keys/query`, { device_keys: { [ann.user_id]: [] } }, ben.access_token);
    assert.equal(seen.body.device_keys[ann.user_id][ann.device_id].signatures[ann.user_id][`ed25519:${selfSigning.publicKey}`], good.signatures[ann.user_id][`ed25519:${selfSigning.publicKey}`]);

    // Ben's user-signing key signs Ann's master key: Ben sees that signature, Cat does not.
    const benMaster = keyPair();
    const benUserSigning = keyPair();
    assert.equal((await call("POST", `${V3}/keys/device_signing/upload`, {
      master_key: crossSigningKey(ben.user_id, "master", benMaster),
      user_signing_key: crossSigningKey(ben.user_id, "user_signing", benUserSigning, benMaster),
    }, ben.access_token)).status, 200);
    const annMaster = seen.body.master_keys[ann.user_id];
    const vouched = signed(annMaster, ben.user_id, `ed25519:${benUserSigning.publicKey}`, benUserSigning);
    const su = await call("POST", `${V3}/keys/signatures/upload`, { [ann.user_id]: { [master.publicKey]: vouched } }, ben.access_token);
    assert.deepEqual(su.body.failures, {});
    const byBen = await call("POST", `${V3}/keys/query`, { device_keys: { [ann.user_id]: [] } }, ben.access_token);
    assert.ok(byBen.body.master_keys[ann.user_id].signatures[ben.user_id]);
    const byCat = await call("POST", `${V3}/keys/query`, { device_keys: { [ann.user_id]: [] } }, cat.access_token);
    assert.equal(byCat.body.master_keys[ann.user_id].signatures?.[ben.user_id], undefined);
  });

  it("deletes a device behind authentication, with its keys and token, and announces it", async () => {
    const login = await call("POST", `${V3}/login`, { type: "m.login.password", identifier: { type: "m.id.user", user: "ann" }, password: "pw-ann" });
    const second = login.body as Registered;
    const key2: KeyPair = keyPair();
    await call("POST", `${V3}/keys/upload`, { device_keys: deviceKeys(ann.user_id, second.device_id, key2) }, second.access_token);
    const benStart = (await sync(ben)).body.next_batch as string;

    const challenge = await call("DELETE", `${V3}/devices/${second.device_id}`, {}, ann.access_token);
    assert.equal(challenge.status, 401);
    const wrong = await call("DELETE", `${V3}/devices/${second.device_id}`, { auth: { type: "m.login.password", identifier: { type: "m.id.user", user: "ann" }, password: "nope", session: challenge.body.session } }, ann.access_token);
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.errcode, "M_FORBIDDEN");
    // Ben's right password does not let Ann delete her device: refused outright (Complement: TestDeviceManagement).
    const asBen = await call("DELETE", `${V3}/devices/${second.device_id}`, { auth: { type: "m.login.password", identifier: { type: "m.id.user", user: ben.user_id }, password: "pw-ben", session: challenge.body.session } }, ann.access_token);
    assert.equal(asBen.status, 403);
    assert.equal(asBen.body.errcode, "M_FORBIDDEN");
    // Nothing changed yet.
    assert.equal((await call("GET", `${V3}/account/whoami`, undefined, second.access_token)).status, 200);
    const done = await call("DELETE", `${V3}/devices/${second.device_id}`, { auth: { type: "m.login.password", identifier: { type: "m.id.user", user: "ann" }, password: "pw-ann", session: challenge.body.session } }, ann.access_token);
    assert.equal(done.status, 200, JSON.stringify(done.body));

    assert.equal((await call("GET", `${V3}/account/whoami`, undefined, second.access_token)).status, 401);
    const q = await call("POST", `${V3}/keys/query`, { device_keys: { [ann.user_id]: [] } }, ben.access_token);
    assert.deepEqual(Object.keys(q.body.device_keys[ann.user_id]), [ann.device_id]);
    const benSync = await sync(ben, benStart);
    assert.deepEqual(benSync.body.device_lists.changed, [ann.user_id]);
  });

  it("reports users who no longer share a room as left, and newcomers as changed", async () => {
    const annStart = (await sync(ann)).body.next_batch as string;
    const catStart = (await sync(cat)).body.next_batch as string;
    await call("POST", `${V3}/join/${encodeURIComponent(roomId)}`, {}, cat.access_token);
    const joined = await sync(ann, annStart);
    assert.ok(joined.body.device_lists.changed.includes(cat.user_id));
    // The joiner is told of everyone in the room, and of themselves (their join announced their devices to the room).
    const catJoined = await sync(cat, catStart);
    assert.deepEqual([...catJoined.body.device_lists.changed].sort(), [ann.user_id, ben.user_id, cat.user_id].sort());
    // A profile change is no new join: no new change for cat.
    await call("PUT", `${V3}/profile/${encodeURIComponent(cat.user_id)}/displayname`, { displayname: "Cat" }, cat.access_token);
    const renamed = await sync(cat, catJoined.body.next_batch);
    assert.ok(!(renamed.body.device_lists?.changed ?? []).includes(cat.user_id));
    await call("POST", `${V3}/rooms/${encodeURIComponent(roomId)}/leave`, {}, ben.access_token);
    const left = await sync(ann, joined.body.next_batch);
    assert.deepEqual(left.body.device_lists.left, [ben.user_id]);
  });

  it("wakes a waiting /sync when a to-device message arrives", async () => {
    const start = (await sync(ann)).body.next_batch as string;
    const waiting = call("GET", `${V3}/sync?timeout=10000&since=${encodeURIComponent(start)}`, undefined, ann.access_token);
    await new Promise((r) => setTimeout(r, 100));
    const sentAt = Date.now();
    await call("PUT", `${V3}/sendToDevice/m.ping/w1`, { messages: { [ann.user_id]: { [ann.device_id]: { ping: 1 } } } }, cat.access_token);
    const got = await waiting;
    assert.ok(Date.now() - sentAt < 5000);
    assert.deepEqual(got.body.to_device.events.map((e: { type: string }) => e.type), ["m.ping"]);
  });
});
