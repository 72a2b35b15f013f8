import { test } from "node:test";
import assert from "node:assert/strict";
import { encodeBase64 } from "../../../src/crypto/base64.js";
import { signingKeyFromSeed, type SigningKey } from "../../../src/crypto/keys.js";
import { checkContentHash, computeEventId, roomIdForCreateEvent } from "../../../src/room/event-id.js";
import { requiredSigners, signEvent, toRoomEvent, verifyEventSignature, type PublicKeyInfo } from "../../../src/room/event.js";
import { redactPdu } from "../../../src/room/redaction.js";
import { EventFormatError, type JsonObject, type PDU } from "../../../src/room/types.js";
import { getRoomVersion, type RoomVersionRules } from "../../../src/room/versions.js";

function rules(v: string): RoomVersionRules {
  const r = getRoomVersion(v);
  if (!r) throw new Error(`no room version ${v}`);
  return r;
}

const A = signingKeyFromSeed("ed25519:a1", new Uint8Array(32).fill(1));
const A_OLD = signingKeyFromSeed("ed25519:a0", new Uint8Array(32).fill(3));
const B = signingKeyFromSeed("ed25519:b1", new Uint8Array(32).fill(2));
const keysOf = (...entries: [SigningKey, number?][]) =>
  new Map<string, PublicKeyInfo>(entries.map(([k, until]) => [k.keyId, { key: k.publicKey, validUntilTs: until }]));

function pdu(v: string, fields: Partial<PDU> = {}): PDU {
  const r = rules(v);
  const base: PDU = {
    type: "m.room.message",
    room_id: "!room:a.org",
    sender: "@alice:a.org",
    content: { body: "hello", msgtype: "m.text" },
    origin_server_ts: 1_000_000,
    depth: 4,
    prev_events: [],
    auth_events: [],
    hashes: { sha256: "" },
    signatures: {},
  };
  if (r.eventIdFormat === "server-assigned") base.event_id = "$ev:a.org";
  return { ...base, ...fields };
}

test("toRoomEvent: v1 pairs and v4 ids both become parent ids; v1 keeps its own event_id", () => {
  const v1 = toRoomEvent(pdu("1", { prev_events: [["$p:a.org", { sha256: "x" }]], auth_events: [["$c:a.org", { sha256: "y" }], ["$m:a.org", { sha256: "z" }]] }), rules("1"));
  assert.equal(v1.eventId, "$ev:a.org");
  assert.deepEqual(v1.prevEventIds, ["$p:a.org"]);
  assert.deepEqual(v1.authEventIds, ["$c:a.org", "$m:a.org"]);
  assert.equal(v1.roomVersion, "1");
  const p4 = pdu("4", { prev_events: ["$p"], auth_events: ["$c", "$m"] });
  const v4 = toRoomEvent(p4, rules("4"));
  assert.equal(v4.eventId, computeEventId(p4, rules("4")));
  assert.deepEqual(v4.prevEventIds, ["$p"]);
  assert.deepEqual(v4.authEventIds, ["$c", "$m"]);
  assert.equal(v4.roomId, "!room:a.org");
  assert.equal(v4.pdu, p4);
  assert.ok(Object.isFrozen(v4));
});

test("toRoomEvent: stateKey undefined for messages, '' kept for state", () => {
  assert.equal(toRoomEvent(pdu("11"), rules("11")).stateKey, undefined);
  assert.equal(toRoomEvent(pdu("11", { type: "m.room.name", state_key: "" }), rules("11")).stateKey, "");
});

test("toRoomEvent: redacts is top-level before v11, in content from v11", () => {
  const top = { type: "m.room.redaction", redacts: "$victim", content: { reason: "r" } };
  assert.equal(toRoomEvent(pdu("10", top), rules("10")).redacts, "$victim");
  assert.equal(toRoomEvent(pdu("11", top), rules("11")).redacts, undefined);
  const inContent = { type: "m.room.redaction", content: { redacts: "$victim" } };
  assert.equal(toRoomEvent(pdu("11", inContent), rules("11")).redacts, "$victim");
  assert.equal(toRoomEvent(pdu("10", inContent), rules("10")).redacts, undefined);
  assert.equal(toRoomEvent(pdu("10", { redacts: "$x" }), rules("10")).redacts, undefined, "only redaction events redact");
});

test("toRoomEvent: a v12 create event's room id is derived from it; other events carry room_id", () => {
  const create = pdu("12", { type: "m.room.create", state_key: "", content: { room_version: "12" } });
  delete create.room_id;
  const ev = toRoomEvent(create, rules("12"));
  assert.equal(ev.roomId, roomIdForCreateEvent(create, rules("12")));
  assert.equal(ev.roomId.slice(1), ev.eventId.slice(1));
  assert.throws(() => toRoomEvent({ ...pdu("12"), room_id: undefined }, rules("12")), EventFormatError);
  assert.throws(() => toRoomEvent({ ...create }, rules("11")), EventFormatError);
});

test("signEvent: sets the content hash, signs the redacted form, keeps unsigned and others' signatures", () => {
  for (const v of ["1", "4", "11", "12"]) {
    const r = rules(v);
    const input = pdu(v, { unsigned: { age: 3 }, signatures: { "b.org": { "ed25519:b1": "kept" } } });
    const signed = signEvent(input, "a.org", A, r);
    assert.equal(checkContentHash(signed, r), true, v);
    assert.deepEqual(signed.unsigned, { age: 3 });
    assert.equal(signed.signatures["b.org"]["ed25519:b1"], "kept");
    assert.equal(verifyEventSignature(signed, r, "a.org", keysOf([A])), true, v);
    // The signature covers the redacted event, so a redacted copy still verifies.
    assert.equal(verifyEventSignature(redactPdu(signed, r), r, "a.org", keysOf([A])), true, v);
    assert.deepEqual(input.hashes, { sha256: "" }, "input untouched");
  }
});

test("signEvent: a second key of the same server adds its signature", () => {
  const r = rules("11");
  const once = signEvent(pdu("11"), "a.org", A, r);
  const twice = signEvent(once, "a.org", A_OLD, r);
  assert.deepEqual(Object.keys(twice.signatures["a.org"]).sort(), ["ed25519:a0", "ed25519:a1"]);
  assert.equal(verifyEventSignature(twice, r, "a.org", keysOf([A], [A_OLD])), true);
});

test("tampering: essential keys break the signature; non-essential content breaks only the content hash", () => {
  const r = rules("11");
  const member = signEvent(pdu("11", { type: "m.room.member", state_key: "@alice:a.org", content: { membership: "join", displayname: "Alice" } }), "a.org", A, r);
  const keys = keysOf([A]);
  assert.equal(verifyEventSignature({ ...member, content: { ...member.content, membership: "leave" } }, r, "a.org", keys), false);
  assert.equal(verifyEventSignature({ ...member, sender: "@mallory:a.org" }, r, "a.org", keys), false);
  assert.equal(verifyEventSignature({ ...member, origin_server_ts: member.origin_server_ts + 1 }, r, "a.org", keys), false);
  const renamed = { ...member, content: { ...member.content, displayname: "Mallory" } };
  assert.equal(verifyEventSignature(renamed, r, "a.org", keys), true);
  assert.equal(checkContentHash(renamed, r), false);
  const message = signEvent(pdu("11"), "a.org", A, r);
  const edited = { ...message, content: { body: "tampered" } };
  assert.equal(checkContentHash(edited, r), false);
});

test("verifyEventSignature: unknown keys, other algorithms and other servers do not count", () => {
  const r = rules("11");
  const signed = signEvent(pdu("11"), "a.org", A, r);
  assert.equal(verifyEventSignature(signed, r, "a.org", keysOf([B])), false, "key not known");
  assert.equal(verifyEventSignature(signed, r, "b.org", keysOf([A])), false, "no signature by b.org");
  const wrongAlg = { ...signed, signatures: { "a.org": { "curve25519:a1": signed.signatures["a.org"]["ed25519:a1"] } } };
  assert.equal(verifyEventSignature(wrongAlg, r, "a.org", new Map([["curve25519:a1", { key: A.publicKey }]])), false);
  // A key id the server signed with but we do not know is skipped, not a failure.
  const plusUnknown = { ...signed, signatures: { "a.org": { ...signed.signatures["a.org"], "ed25519:zz": "AAAA" } } };
  assert.equal(verifyEventSignature(plusUnknown, r, "a.org", keysOf([A])), true);
});

test("verifyEventSignature: a bad signature by a known key fails even beside a good one", () => {
  const r = rules("11");
  const signed = signEvent(pdu("11"), "a.org", A, r);
  const forged = { ...signed, signatures: { "a.org": { ...signed.signatures["a.org"], "ed25519:a0": encodeBase64(new Uint8Array(64)) } } };
  assert.equal(verifyEventSignature(forged, r, "a.org", keysOf([A])), true, "a0 unknown: skipped");
  assert.equal(verifyEventSignature(forged, r, "a.org", keysOf([A], [A_OLD])), false, "a0 known: must be valid");
});

test("key validity: a key expired before origin_server_ts fails from v5 and still counts in v4", () => {
  const ts = 1_000_000;
  for (const v of ["1", "4"]) {
    const signed = signEvent(pdu(v, { origin_server_ts: ts }), "a.org", A, rules(v));
    assert.equal(verifyEventSignature(signed, rules(v), "a.org", keysOf([A, ts - 1])), true, v);
  }
  for (const v of ["5", "6", "10", "11", "12"]) {
    const signed = signEvent(pdu(v, { origin_server_ts: ts }), "a.org", A, rules(v));
    assert.equal(verifyEventSignature(signed, rules(v), "a.org", keysOf([A, ts - 1])), false, v);
    assert.equal(verifyEventSignature(signed, rules(v), "a.org", keysOf([A, ts])), true, `${v}: valid until exactly the event's time`);
    assert.equal(verifyEventSignature(signed, rules(v), "a.org", keysOf([A])), true, `${v}: no expiry known`);
  }
});

test("requiredSigners: the sender's server; v1-v2 also the event_id's server", () => {
  assert.deepEqual(requiredSigners(pdu("11"), rules("11")), ["a.org"]);
  assert.deepEqual(requiredSigners(pdu("1", { event_id: "$e:b.org" }), rules("1")), ["a.org", "b.org"]);
  assert.deepEqual(requiredSigners(pdu("2", { event_id: "$e:a.org" }), rules("2")), ["a.org"]);
  // From v3 an event_id key (if one were present) names no server.
  assert.deepEqual(requiredSigners(pdu("3", { event_id: "$e:b.org" }), rules("3")), ["a.org"]);
});

const member = (v: string, content: JsonObject) => pdu(v, { type: "m.room.member", state_key: "@alice:a.org", content });

test("requiredSigners: a restricted join (v8+) also needs the authorising user's server", () => {
  const content = { membership: "join", join_authorised_via_users_server: "@admin:c.org" };
  assert.deepEqual(requiredSigners(member("8", content), rules("8")), ["a.org", "c.org"]);
  assert.deepEqual(requiredSigners(member("12", content), rules("12")), ["a.org", "c.org"]);
  assert.deepEqual(requiredSigners(member("7", content), rules("7")), ["a.org"]);
  assert.deepEqual(requiredSigners(member("9", { ...content, membership: "leave" }), rules("9")), ["a.org"]);
  assert.deepEqual(requiredSigners(member("9", { ...content, join_authorised_via_users_server: "@admin:a.org" }), rules("9")), ["a.org"]);
});

test("requiredSigners: a third-party invite may be sent by another server, so the sender's is not required", () => {
  const invite = { membership: "invite", third_party_invite: { display_name: "b...", signed: { mxid: "@bob:b.org", token: "t", signatures: {} } } };
  assert.deepEqual(requiredSigners(member("11", invite), rules("11")), []);
  assert.deepEqual(requiredSigners(member("1", invite), rules("1")), ["a.org"], "v1-v2: the event_id's server still signs");
});

test("a missing required signer fails: every server in requiredSigners must verify", () => {
  const r = rules("9");
  const join = signEvent(member("9", { membership: "join", join_authorised_via_users_server: "@admin:c.org" }), "a.org", A, r);
  const C = signingKeyFromSeed("ed25519:c1", new Uint8Array(32).fill(9));
  const keys = new Map([["a.org", keysOf([A])], ["c.org", keysOf([C])]]);
  const allSigned = (p: PDU) => requiredSigners(p, r).every((s) => verifyEventSignature(p, r, s, keys.get(s) ?? new Map()));
  assert.equal(allSigned(join), false, "c.org has not signed");
  assert.equal(allSigned(signEvent(join, "c.org", C, r)), true);
  const v1 = signEvent(pdu("1", { event_id: "$e:b.org" }), "a.org", A, rules("1"));
  assert.equal(verifyEventSignature(v1, rules("1"), "b.org", keysOf([B])), false, "the event_id's server has not signed");
});
