/**
 * Server-side key backups over real HTTP: versions, uploads with the
 * spec's better-copy rule, etag and count, the current-version rule,
 * deletion, bad input that changes nothing, privacy between users, and
 * the cost of a large upload.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { assertSpecResponse } from "../support/spec.js";
import { describeOnEachEngine } from "../support/server.js";
import { isBetter, type KeyBackupData } from "../../src/storage/key-backup-store.js";

const ALG = "m.megolm_backup.v1.curve25519-aes-sha2";
const SPEC = "key_backup.yaml";
const R = "/_matrix/client/v3/room_keys";

function key(first_message_index: number, forwarded_count: number, is_verified: boolean, tag: string): KeyBackupData {
  return { first_message_index, forwarded_count, is_verified, session_data: { ephemeral: "eph", ciphertext: tag, mac: "mac" } };
}

const room = (id: string) => encodeURIComponent(id);

it("the better-copy rule follows the spec's order", () => {
  assert.equal(isBetter(key(9, 9, true, "n"), key(0, 0, false, "o")), true, "verified beats unverified");
  assert.equal(isBetter(key(0, 0, false, "n"), key(9, 9, true, "o")), false);
  assert.equal(isBetter(key(3, 9, false, "n"), key(4, 0, false, "o")), true, "then the lower first_message_index");
  assert.equal(isBetter(key(5, 0, true, "n"), key(4, 9, true, "o")), false);
  assert.equal(isBetter(key(4, 1, false, "n"), key(4, 2, false, "o")), true, "then the lower forwarded_count");
  assert.equal(isBetter(key(4, 2, false, "n"), key(4, 2, false, "o")), false, "a tie keeps the stored copy");
});

describeOnEachEngine("key backup", { server_name: "kb.test", registration: { enabled: true } }, (h) => {
  const { call, register } = h.http;

  it("runs the whole life of a backup: create, upload, read, replace, version rules, update, delete", async () => {
    const ann = await register("ann");
    const t = ann.access_token;

    const none = await call("GET", `${R}/version`, undefined, t);
    assert.equal(none.status, 404);
    assert.equal(none.body.errcode, "M_NOT_FOUND");
    assertSpecResponse("client-server", SPEC, "GET", "/room_keys/version", 404, none.body);

    const created = await call("POST", `${R}/version`, { algorithm: ALG, auth_data: { public_key: "pk1" } }, t);
    assert.equal(created.status, 200);
    assertSpecResponse("client-server", SPEC, "POST", "/room_keys/version", 200, created.body);
    assert.deepEqual(created.body, { version: "1" });

    const current = await call("GET", `${R}/version`, undefined, t);
    assertSpecResponse("client-server", SPEC, "GET", "/room_keys/version", 200, current.body);
    assert.deepEqual({ ...current.body, etag: undefined }, { algorithm: ALG, auth_data: { public_key: "pk1" }, count: 0, version: "1", etag: undefined });
    const byNumber = await call("GET", `${R}/version/1`, undefined, t);
    assertSpecResponse("client-server", SPEC, "GET", "/room_keys/version/{version}", 200, byNumber.body);
    assert.deepEqual(byNumber.body, current.body);
    const etag0 = current.body.etag as string;

    // Upload three sessions in two rooms.
    const A = "!a:kb.test";
    const B = "!b:kb.test";
    const up = await call("PUT", `${R}/keys?version=1`, {
      rooms: { [A]: { sessions: { s1: key(5, 0, false, "a1"), s2: key(0, 0, true, "a2") } }, [B]: { sessions: { s3: key(1, 1, false, "b3") } } },
    }, t);
    assert.equal(up.status, 200, JSON.stringify(up.body));
    assertSpecResponse("client-server", SPEC, "PUT", "/room_keys/keys", 200, up.body);
    assert.equal(up.body.count, 3);
    assert.notEqual(up.body.etag, etag0);

    const all = await call("GET", `${R}/keys?version=1`, undefined, t);
    assertSpecResponse("client-server", SPEC, "GET", "/room_keys/keys", 200, all.body);
    assert.deepEqual(all.body, {
      rooms: { [A]: { sessions: { s1: key(5, 0, false, "a1"), s2: key(0, 0, true, "a2") } }, [B]: { sessions: { s3: key(1, 1, false, "b3") } } },
    });
    const oneRoom = await call("GET", `${R}/keys/${room(A)}?version=1`, undefined, t);
    assertSpecResponse("client-server", SPEC, "GET", "/room_keys/keys/{roomId}", 200, oneRoom.body);
    assert.deepEqual(oneRoom.body, { sessions: { s1: key(5, 0, false, "a1"), s2: key(0, 0, true, "a2") } });
    const emptyRoom = await call("GET", `${R}/keys/${room("!empty:kb.test")}?version=1`, undefined, t);
    assert.equal(emptyRoom.status, 200);
    assert.deepEqual(emptyRoom.body, { sessions: {} });
    const one = await call("GET", `${R}/keys/${room(A)}/s1?version=1`, undefined, t);
    assertSpecResponse("client-server", SPEC, "GET", "/room_keys/keys/{roomId}/{sessionId}", 200, one.body);
    assert.deepEqual(one.body, key(5, 0, false, "a1"));
    const missing = await call("GET", `${R}/keys/${room(A)}/nope?version=1`, undefined, t);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.errcode, "M_NOT_FOUND");
    assertSpecResponse("client-server", SPEC, "GET", "/room_keys/keys/{roomId}/{sessionId}", 404, missing.body);

    // Replacement: only a better copy replaces s1, and the etag moves exactly when it does.
    let etag = up.body.etag as string;
    const offer = async (k: KeyBackupData, replaces: boolean, why: string) => {
      const r = await call("PUT", `${R}/keys/${room(A)}/s1?version=1`, k, t);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assertSpecResponse("client-server", SPEC, "PUT", "/room_keys/keys/{roomId}/{sessionId}", 200, r.body);
      assert.equal(r.body.count, 3, why);
      const stored = (await call("GET", `${R}/keys/${room(A)}/s1?version=1`, undefined, t)).body;
      if (replaces) {
        assert.notEqual(r.body.etag, etag, `${why}: etag changes`);
        assert.deepEqual(stored, k, why);
      } else {
        assert.equal(r.body.etag, etag, `${why}: etag stays`);
        assert.notDeepEqual(stored, k, why);
      }
      etag = r.body.etag;
    };
    await offer(key(6, 0, false, "worse index"), false, "a higher first_message_index loses");
    await offer(key(5, 0, false, "tie"), false, "a tie keeps the stored copy");
    await offer(key(5, 1, false, "worse count"), false, "a higher forwarded_count loses");
    await offer(key(4, 3, false, "better index"), true, "a lower first_message_index wins, whatever its forwarded_count");
    await offer(key(4, 2, false, "better count"), true, "same index, lower forwarded_count wins");
    await offer(key(100, 100, true, "verified"), true, "verified beats unverified");
    await offer(key(0, 0, false, "unverified"), false, "unverified never beats verified");

    // A room-level upload adds a session.
    const roomUp = await call("PUT", `${R}/keys/${room(B)}?version=1`, { sessions: { s4: key(0, 0, false, "b4") } }, t);
    assertSpecResponse("client-server", SPEC, "PUT", "/room_keys/keys/{roomId}", 200, roomUp.body);
    assert.equal(roomUp.body.count, 4);
    assert.notEqual(roomUp.body.etag, etag);

    // A new version becomes the current one; the old one is read-only.
    assert.deepEqual((await call("POST", `${R}/version`, { algorithm: ALG, auth_data: { public_key: "pk2" } }, t)).body, { version: "2" });
    const v2 = await call("GET", `${R}/version`, undefined, t);
    assert.equal(v2.body.version, "2");
    assert.equal(v2.body.count, 0);
    for (const [path, body, specPath] of [
      [`${R}/keys?version=1`, { rooms: { [A]: { sessions: { s9: key(0, 0, true, "x") } } } }, "/room_keys/keys"],
      [`${R}/keys/${room(A)}?version=1`, { sessions: { s9: key(0, 0, true, "x") } }, "/room_keys/keys/{roomId}"],
      [`${R}/keys/${room(A)}/s9?version=1`, key(0, 0, true, "x"), "/room_keys/keys/{roomId}/{sessionId}"],
    ] as const) {
      const wrong = await call("PUT", path, body, t);
      assert.equal(wrong.status, 403, path);
      assert.equal(wrong.body.errcode, "M_WRONG_ROOM_KEYS_VERSION");
      assert.equal(wrong.body.current_version, "2");
      assertSpecResponse("client-server", SPEC, "PUT", specPath, 403, wrong.body);
    }
    for (const v of ["7", "abc", "01", "0"]) {
      const unknown = await call("PUT", `${R}/keys?version=${v}`, { rooms: {} }, t);
      assert.equal(unknown.status, 404, v);
      assert.equal(unknown.body.errcode, "M_NOT_FOUND");
      assertSpecResponse("client-server", SPEC, "PUT", "/room_keys/keys", 404, unknown.body);
    }
    assert.equal((await call("GET", `${R}/keys?version=1`, undefined, t)).body.rooms[B].sessions.s4.session_data.ciphertext, "b4");
    assert.equal((await call("GET", `${R}/version/1`, undefined, t)).body.count, 4, "version 1 kept its keys");

    // Updating auth_data: the algorithm and any body version must match.
    const upd = await call("PUT", `${R}/version/1`, { algorithm: ALG, auth_data: { public_key: "pk1b" }, version: "1" }, t);
    assert.equal(upd.status, 200);
    assertSpecResponse("client-server", SPEC, "PUT", "/room_keys/version/{version}", 200, upd.body);
    const after = (await call("GET", `${R}/version/1`, undefined, t)).body;
    assert.deepEqual(after.auth_data, { public_key: "pk1b" });
    assert.equal(after.etag, roomUp.body.etag, "auth_data is not keys: the etag stays");
    for (const bad of [
      { algorithm: "org.example.other", auth_data: { public_key: "x" } },
      { algorithm: ALG, auth_data: { public_key: "x" }, version: "2" },
    ]) {
      const r = await call("PUT", `${R}/version/1`, bad, t);
      assert.equal(r.status, 400);
      assert.equal(r.body.errcode, "M_INVALID_PARAM");
      assertSpecResponse("client-server", SPEC, "PUT", "/room_keys/version/{version}", 400, r.body);
    }
    const updUnknown = await call("PUT", `${R}/version/9`, { algorithm: ALG, auth_data: {} }, t);
    assert.equal(updUnknown.status, 404);
    assertSpecResponse("client-server", SPEC, "PUT", "/room_keys/version/{version}", 404, updUnknown.body);
    assert.deepEqual((await call("GET", `${R}/version/1`, undefined, t)).body.auth_data, { public_key: "pk1b" });

    // Deleting keys from version 1 (allowed though it is not current): session, room, all.
    let lastEtag = after.etag as string;
    const deletes: Array<[string, string, number]> = [
      [`${R}/keys/${room(A)}/s1?version=1`, "/room_keys/keys/{roomId}/{sessionId}", 3],
      [`${R}/keys/${room(A)}?version=1`, "/room_keys/keys/{roomId}", 2],
      [`${R}/keys?version=1`, "/room_keys/keys", 0],
    ];
    for (const [path, specPath, count] of deletes) {
      const d = await call("DELETE", path, undefined, t);
      assert.equal(d.status, 200);
      assertSpecResponse("client-server", SPEC, "DELETE", specPath, 200, d.body);
      assert.equal(d.body.count, count);
      assert.notEqual(d.body.etag, lastEtag);
      lastEtag = d.body.etag;
    }
    const again = await call("DELETE", `${R}/keys?version=1`, undefined, t);
    assert.deepEqual(again.body, { etag: lastEtag, count: 0 }, "deleting nothing changes nothing");
    assert.deepEqual((await call("GET", `${R}/keys?version=1`, undefined, t)).body, { rooms: {} });

    // Deleting versions; deleting a deleted one succeeds, an unknown one is 404.
    const delV = await call("DELETE", `${R}/version/1`, undefined, t);
    assert.equal(delV.status, 200);
    assertSpecResponse("client-server", SPEC, "DELETE", "/room_keys/version/{version}", 200, delV.body);
    const gone = await call("GET", `${R}/version/1`, undefined, t);
    assert.equal(gone.status, 404);
    assertSpecResponse("client-server", SPEC, "GET", "/room_keys/version/{version}", 404, gone.body);
    assert.equal((await call("DELETE", `${R}/version/1`, undefined, t)).status, 200, "a repeated delete succeeds");
    const delUnknown = await call("DELETE", `${R}/version/9`, undefined, t);
    assert.equal(delUnknown.status, 404);
    assertSpecResponse("client-server", SPEC, "DELETE", "/room_keys/version/{version}", 404, delUnknown.body);
    const keysGone = await call("GET", `${R}/keys?version=1`, undefined, t);
    assert.equal(keysGone.status, 404);
    assertSpecResponse("client-server", SPEC, "GET", "/room_keys/keys", 404, keysGone.body);
    assert.equal((await call("DELETE", `${R}/keys?version=1`, undefined, t)).status, 404);
    assert.equal((await call("GET", `${R}/version`, undefined, t)).body.version, "2");

    // Version 2 carries keys; deleting it removes them and leaves no current version.
    await call("PUT", `${R}/keys/${room(A)}/s1?version=2`, key(0, 0, true, "v2"), t);
    assert.equal((await call("DELETE", `${R}/version/2`, undefined, t)).status, 200);
    assert.equal((await call("GET", `${R}/version`, undefined, t)).status, 404);
    assert.equal((await call("PUT", `${R}/keys/${room(A)}/s1?version=2`, key(0, 0, true, "v2"), t)).status, 404);
    const rows = await h.server.context.db.knex("key_backup_sessions").where({ user_id: ann.user_id }).count({ n: "*" }).first();
    assert.equal(Number(rows?.n), 0, "a deleted version's keys are gone from the database");
    // Numbers are never reused.
    assert.deepEqual((await call("POST", `${R}/version`, { algorithm: ALG, auth_data: { public_key: "pk3" } }, t)).body, { version: "3" });
  });

  it("refuses bad input and changes nothing", async () => {
    const bob = await register("bob");
    const t = bob.access_token;
    const A = "!a:kb.test";
    const expectError = async (method: string, path: string, body: unknown, status: number, errcode: string, token: string | undefined = t) => {
      const r = await call(method, path, body, token);
      assert.equal(r.status, status, `${method} ${path} ${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.errcode, errcode, `${method} ${path} ${JSON.stringify(body)}`);
    };

    // Creating: both fields required, auth_data an object; nothing created meanwhile.
    await expectError("POST", `${R}/version`, { algorithm: ALG }, 400, "M_MISSING_PARAM");
    await expectError("POST", `${R}/version`, { auth_data: {} }, 400, "M_MISSING_PARAM");
    await expectError("POST", `${R}/version`, { algorithm: ALG, auth_data: "x" }, 400, "M_BAD_JSON");
    await expectError("POST", `${R}/version`, { algorithm: 5, auth_data: {} }, 400, "M_BAD_JSON");
    await expectError("POST", `${R}/version`, "{nope", 400, "M_NOT_JSON");
    await expectError("POST", `${R}/version`, { algorithm: ALG, auth_data: {} }, 401, "M_MISSING_TOKEN", "");
    assert.equal((await call("GET", `${R}/version`, undefined, t)).status, 404);

    assert.equal((await call("POST", `${R}/version`, { algorithm: ALG, auth_data: { public_key: "p" } }, t)).body.version, "1");
    const first = await call("PUT", `${R}/keys/${room(A)}/s1?version=1`, key(3, 0, false, "kept"), t);
    const before = await call("GET", `${R}/version`, undefined, t);
    assert.equal(before.body.count, 1);

    const good = key(0, 0, true, "good");
    const badKeys: Array<[unknown, string]> = [
      [{ ...good, is_verified: "yes" }, "M_BAD_JSON"],
      [{ first_message_index: 0, forwarded_count: 0, session_data: {} }, "M_BAD_JSON"],
      [{ ...good, first_message_index: "0" }, "M_BAD_JSON"],
      [{ ...good, first_message_index: 1.5 }, "M_BAD_JSON"],
      [{ ...good, forwarded_count: null }, "M_BAD_JSON"],
      [{ ...good, first_message_index: -1 }, "M_INVALID_PARAM"],
      [{ ...good, session_data: [1] }, "M_BAD_JSON"],
      [{ ...good, session_data: "x" }, "M_BAD_JSON"],
      [[good], "M_BAD_JSON"],
    ];
    for (const [bad, errcode] of badKeys) {
      await expectError("PUT", `${R}/keys/${room(A)}/s1?version=1`, bad, 400, errcode);
      // The bad key last, after good ones: none of the good ones may be stored.
      await expectError("PUT", `${R}/keys/${room(A)}?version=1`, { sessions: { s2: good, s3: good, s1: bad } }, 400, errcode);
      await expectError("PUT", `${R}/keys?version=1`, { rooms: { "!z:kb.test": { sessions: { s4: good } }, [A]: { sessions: { s1: bad } } } }, 400, errcode);
    }
    await expectError("PUT", `${R}/keys?version=1`, { rooms: [] }, 400, "M_BAD_JSON");
    await expectError("PUT", `${R}/keys?version=1`, {}, 400, "M_BAD_JSON");
    await expectError("PUT", `${R}/keys?version=1`, { rooms: { [A]: { sessions: [good] } } }, 400, "M_BAD_JSON");
    await expectError("PUT", `${R}/keys?version=1`, { rooms: { [A]: { sessions: { ["x".repeat(256)]: good } } } }, 400, "M_INVALID_PARAM");
    await expectError("PUT", `${R}/keys/${room(A)}?version=1`, { rooms: {} }, 400, "M_BAD_JSON");
    await expectError("PUT", `${R}/keys/${room(A)}/s1?version=1`, "{oops", 400, "M_NOT_JSON");
    await expectError("PUT", `${R}/keys/${room(A)}/s1`, good, 400, "M_MISSING_PARAM");
    await expectError("GET", `${R}/keys`, undefined, 400, "M_MISSING_PARAM");
    await expectError("DELETE", `${R}/keys/${room(A)}`, undefined, 400, "M_MISSING_PARAM");
    await expectError("PUT", `${R}/keys/${room(A)}/s1?version=1&version=1`, good, 400, "M_INVALID_PARAM");
    await expectError("PUT", `${R}/keys/${room(A)}/s1?version=1`, good, 401, "M_MISSING_TOKEN", "");
    await expectError("PUT", `${R}/version/1`, { algorithm: ALG }, 400, "M_MISSING_PARAM");
    await expectError("PUT", `${R}/version/1`, { algorithm: ALG, auth_data: {}, version: 1 }, 400, "M_BAD_JSON");

    const afterAll = await call("GET", `${R}/version`, undefined, t);
    assert.deepEqual(afterAll.body, before.body, "count, etag and auth_data unchanged");
    assert.equal(afterAll.body.etag, first.body.etag);
    assert.deepEqual((await call("GET", `${R}/keys?version=1`, undefined, t)).body, { rooms: { [A]: { sessions: { s1: key(3, 0, false, "kept") } } } });
  });

  it("keeps each user's backups to themselves", async () => {
    const cat = await register("cat");
    const dan = await register("dan");
    await call("POST", `${R}/version`, { algorithm: ALG, auth_data: { public_key: "cat" } }, cat.access_token);
    await call("PUT", `${R}/keys/${room("!c:kb.test")}/s?version=1`, key(0, 0, true, "cat's"), cat.access_token);

    const d = dan.access_token;
    assert.equal((await call("GET", `${R}/version`, undefined, d)).status, 404);
    assert.equal((await call("GET", `${R}/version/1`, undefined, d)).status, 404);
    assert.equal((await call("GET", `${R}/keys?version=1`, undefined, d)).status, 404);
    assert.equal((await call("GET", `${R}/keys/${room("!c:kb.test")}/s?version=1`, undefined, d)).status, 404);
    assert.equal((await call("PUT", `${R}/keys/${room("!c:kb.test")}/s?version=1`, key(0, 0, true, "dan's"), d)).status, 404);
    assert.equal((await call("PUT", `${R}/version/1`, { algorithm: ALG, auth_data: { public_key: "dan" } }, d)).status, 404);
    assert.equal((await call("DELETE", `${R}/keys?version=1`, undefined, d)).status, 404);
    assert.equal((await call("DELETE", `${R}/version/1`, undefined, d)).status, 404);

    // Dan's own numbering starts at 1 and his keys land in his backup only.
    assert.deepEqual((await call("POST", `${R}/version`, { algorithm: ALG, auth_data: { public_key: "dan" } }, d)).body, { version: "1" });
    await call("PUT", `${R}/keys/${room("!c:kb.test")}/s?version=1`, key(0, 0, true, "dan's"), d);
    const cats = await call("GET", `${R}/version`, undefined, cat.access_token);
    assert.deepEqual(cats.body.auth_data, { public_key: "cat" });
    assert.equal(cats.body.count, 1);
    assert.equal((await call("GET", `${R}/keys/${room("!c:kb.test")}/s?version=1`, undefined, cat.access_token)).body.session_data.ciphertext, "cat's");
    assert.equal((await call("GET", `${R}/keys/${room("!c:kb.test")}/s?version=1`, undefined, d)).body.session_data.ciphertext, "dan's");
  });

  it("numbers concurrent creations distinctly, and the newest is current", async () => {
    const gus = await register("gus");
    const made = await Promise.all(
      Array.from({ length: 5 }, (_, i) => call("POST", `${R}/version`, { algorithm: ALG, auth_data: { public_key: `p${i}` } }, gus.access_token)),
    );
    assert.deepEqual(made.map((r) => r.status), [200, 200, 200, 200, 200]);
    assert.deepEqual(made.map((r) => r.body.version).sort(), ["1", "2", "3", "4", "5"]);
    assert.equal((await call("GET", `${R}/version`, undefined, gus.access_token)).body.version, "5");
  });

  it("stores a 1,000-session upload in one transaction with a bounded number of statements", async (t) => {
    const eve = await register("eve");
    const tok = eve.access_token;
    await call("POST", `${R}/version`, { algorithm: ALG, auth_data: { public_key: "p" } }, tok);
    const body = (fmi: number, tag: string) => {
      const rooms: Record<string, { sessions: Record<string, KeyBackupData> }> = {};
      for (let i = 0; i < 1000; i++) {
        const r = `!room${i % 50}:kb.test`;
        (rooms[r] ??= { sessions: {} }).sessions[`session${i}`] = key(fmi, 0, false, `${tag}-${"c".repeat(300)}`);
      }
      return { rooms };
    };

    const knex = h.server.context.db.knex;
    let statements = 0;
    const count = () => void statements++;
    knex.on("query", count);
    try {
      const started = performance.now();
      const res = await call("PUT", `${R}/keys?version=1`, body(10, "first"), tok);
      const ms = performance.now() - started;
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.count, 1000);
      t.diagnostic(`1,000-session upload (new sessions) on ${h.db.engine}: ${ms.toFixed(0)} ms, ${statements} statements`);
      // Token check, version lookups, 2 chunked reads, 2 chunked writes, etag, count, transaction control.
      assert.ok(statements <= 20, `${statements} statements`);

      statements = 0;
      const again = performance.now();
      const same = await call("PUT", `${R}/keys?version=1`, body(10, "same"), tok);
      t.diagnostic(`1,000-session upload (all ties, nothing written) on ${h.db.engine}: ${(performance.now() - again).toFixed(0)} ms, ${statements} statements`);
      assert.equal(same.body.etag, res.body.etag, "nothing better: etag unchanged");

      statements = 0;
      const better = performance.now();
      const replaced = await call("PUT", `${R}/keys?version=1`, body(2, "better"), tok);
      t.diagnostic(`1,000-session upload (all better, replaced) on ${h.db.engine}: ${(performance.now() - better).toFixed(0)} ms, ${statements} statements`);
      assert.equal(replaced.body.count, 1000);
      assert.notEqual(replaced.body.etag, res.body.etag);
      assert.ok(statements <= 20, `${statements} statements`);
    } finally {
      knex.off("query", count);
    }
    const sample = await call("GET", `${R}/keys/${room("!room7:kb.test")}/session7?version=1`, undefined, tok);
    assert.equal(sample.body.first_message_index, 2);
  });

  it("rolls back a batch that fails part-way through writing", async () => {
    const store = h.server.context.keyBackups;
    const fay = await register("fay");
    const v = await store.createVersion(fay.user_id, ALG, { public_key: "p" });
    await store.putKeys(fay.user_id, v, [{ roomId: "!r:kb.test", sessionId: "old", data: key(0, 0, true, "old") }]);
    const before = await store.getVersion(fay.user_id, v);
    // 1,200 new sessions; the last one breaks a NOT NULL column, after two chunks were already written.
    const uploads = Array.from({ length: 1200 }, (_, i) => ({ roomId: "!r:kb.test", sessionId: `s${i}`, data: key(0, 0, false, "x") }));
    uploads[1199].data = { ...uploads[1199].data, first_message_index: null as unknown as number };
    await assert.rejects(store.putKeys(fay.user_id, v, uploads));
    assert.deepEqual(await store.getVersion(fay.user_id, v), before, "nothing half-applied: same count and etag");
    assert.deepEqual(Object.keys((await store.getKeys(fay.user_id, v)) ?? {}), ["!r:kb.test"]);
    assert.deepEqual(Object.keys((await store.getKeys(fay.user_id, v))?.["!r:kb.test"] ?? {}), ["old"]);
  });
});
