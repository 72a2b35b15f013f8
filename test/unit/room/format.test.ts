import { test } from "node:test";
import assert from "node:assert/strict";
import { canonicalJson } from "../../../src/crypto/canonical-json.js";
import { checkEventFormat, MAX_EVENT_BYTES } from "../../../src/room/format.js";
import { EventFormatError, EventTooLargeError, type PDU } from "../../../src/room/types.js";
import { getRoomVersion, type RoomVersionRules } from "../../../src/room/versions.js";

function rules(v: string): RoomVersionRules {
  const r = getRoomVersion(v);
  if (!r) throw new Error(`no room version ${v}`);
  return r;
}

const ID_V3 = "$" + "A+/".repeat(14) + "B"; // 43 characters, standard alphabet
const ID_V4 = "$" + "A-_".repeat(14) + "B"; // 43 characters, URL-safe alphabet
const ROOM_V12 = "!" + "Rr_-".repeat(10) + "abc";

/** A valid event for room version v (non-create). */
function valid(v: string): PDU {
  const r = rules(v);
  const pdu: PDU = {
    type: "m.room.message",
    room_id: r.roomIdFromCreateEvent ? ROOM_V12 : "!room:example.org",
    sender: "@alice:example.org",
    content: { body: "hi" },
    origin_server_ts: 1_700_000_000_000,
    depth: 3,
    prev_events: [],
    auth_events: [],
    hashes: { sha256: "aGFzaA" },
    signatures: { "example.org": { "ed25519:1": "c2ln" } },
  };
  if (r.eventIdFormat === "server-assigned") {
    pdu.event_id = "$ev1:example.org";
    pdu.prev_events = [["$p:example.org", { sha256: "aA" }]];
    pdu.auth_events = [["$a:example.org", { sha256: "aA" }]];
  } else {
    const id = r.eventIdFormat === "reference-hash" ? ID_V3 : ID_V4;
    pdu.prev_events = [id];
    pdu.auth_events = [id];
  }
  return pdu;
}

const ok = (pdu: unknown, v: string) => assert.doesNotThrow(() => checkEventFormat(pdu as PDU, rules(v)));
const bad = (pdu: unknown, v: string, reason: RegExp) => assert.throws(() => checkEventFormat(pdu as PDU, rules(v)), (e: unknown) => e instanceof EventFormatError && reason.test(e.message));

test("the base event of every version passes", () => {
  for (let v = 1; v <= 12; v++) ok(valid(String(v)), String(v));
});

test("size: 65,536 bytes of canonical JSON (signatures included) pass, one more byte fails", () => {
  for (const v of ["1", "11"]) {
    const pdu = valid(v);
    const fill = MAX_EVENT_BYTES - Buffer.byteLength(canonicalJson(pdu)) - '"pad":"",'.length;
    // Multi-byte characters: the limit is in bytes, not characters.
    const pad = "é".repeat(Math.floor(fill / 2)) + "x".repeat(fill % 2);
    const atLimit = { ...pdu, content: { ...pdu.content, pad } };
    assert.equal(Buffer.byteLength(canonicalJson(atLimit)), MAX_EVENT_BYTES);
    ok(atLimit, v);
    assert.throws(() => checkEventFormat({ ...atLimit, content: { ...atLimit.content, pad: pad + "x" } }, rules(v)), EventTooLargeError);
    // A signature added in transit counts too.
    const signed = { ...atLimit, signatures: { ...atLimit.signatures, "b.org": { "ed25519:1": "x" } } };
    assert.throws(() => checkEventFormat(signed, rules(v)), EventTooLargeError);
  }
});

test("sender, room_id, state_key, type and event_id: 255 bytes pass, 256 fail (bytes, not characters)", () => {
  const pad = (prefix: string, suffix: string, total: number) => prefix + "a".repeat(total - prefix.length - suffix.length) + suffix;
  for (const [key, make, v] of [
    ["sender", (n: number) => pad("@", ":example.org", n), "11"],
    ["room_id", (n: number) => pad("!", ":example.org", n), "11"],
    ["event_id", (n: number) => pad("$", ":example.org", n), "1"],
    ["type", (n: number) => pad("", "", n), "11"],
    ["state_key", (n: number) => pad("", "", n), "11"],
  ] as const) {
    ok({ ...valid(v), [key]: make(255) }, v);
    bad({ ...valid(v), [key]: make(256) }, v, new RegExp(`${key} is longer than 255 bytes`));
  }
  // 128 two-byte characters are 256 bytes.
  ok({ ...valid("11"), state_key: "é".repeat(127) + "a" }, "11");
  bad({ ...valid("11"), state_key: "é".repeat(128) }, "11", /state_key is longer/);
  bad({ ...valid("11"), type: "é".repeat(128) }, "11", /type is longer/);
});

test("NUL in type or state_key is refused", () => {
  bad({ ...valid("11"), type: "m.a\u0000b" }, "11", /type contains NUL/);
  bad({ ...valid("11"), state_key: "a\u0000" }, "11", /state_key contains NUL/);
  ok({ ...valid("11"), state_key: "" }, "11");
});

test("required keys: each missing one fails", () => {
  for (const v of ["1", "3", "11", "12"]) {
    for (const key of ["sender", "type", "content", "origin_server_ts", "depth", "hashes", "signatures", "prev_events", "auth_events", "room_id"]) {
      const pdu = valid(v) as Record<string, unknown>;
      delete pdu[key];
      assert.throws(() => checkEventFormat(pdu as PDU, rules(v)), EventFormatError, `${key} in v${v}`);
    }
  }
  bad({ ...valid("11"), hashes: {} }, "11", /hashes.sha256/);
  bad({ ...valid("11"), hashes: { sha256: 5 } }, "11", /hashes.sha256/);
});

test("types of keys: content an object, state_key a string, signatures server -> key -> string, unsigned an object", () => {
  bad({ ...valid("11"), content: [] }, "11", /content must be an object/);
  bad({ ...valid("11"), state_key: 5 }, "11", /state_key must be a string/);
  bad({ ...valid("11"), type: 5 }, "11", /type must be a string/);
  bad({ ...valid("11"), signatures: { "example.org": "sig" } }, "11", /signatures/);
  bad({ ...valid("11"), signatures: { "example.org": { "ed25519:1": 5 } } }, "11", /signatures/);
  bad({ ...valid("11"), unsigned: "x" }, "11", /unsigned/);
  ok({ ...valid("11"), unsigned: { age: 5 } }, "11");
  bad({ ...valid("11"), origin_server_ts: "5" }, "11", /origin_server_ts/);
});

test("event_id: required as $opaque:server in v1-v2, absent from v3", () => {
  const { event_id: _e, ...noId } = valid("1");
  bad(noId, "1", /event_id must be/);
  bad({ ...valid("2"), event_id: "$nodomain" }, "2", /event_id must be/);
  bad({ ...valid("2"), event_id: "ev:example.org" }, "2", /event_id must be/);
  for (const v of ["3", "4", "11", "12"]) bad({ ...valid(v), event_id: ID_V4 }, v, /event_id is not part/);
});

test("room_id: !opaque:server before v12; '!' + 43 URL-safe base64 characters in v12; absent on a v12 create", () => {
  bad({ ...valid("11"), room_id: "!nodomain" }, "11", /room_id/);
  bad({ ...valid("11"), room_id: "#alias:example.org" }, "11", /room_id/);
  bad({ ...valid("11"), room_id: "!r:bad server" }, "11", /room_id/);
  bad({ ...valid("12"), room_id: "!room:example.org" }, "12", /room_id/);
  bad({ ...valid("12"), room_id: ROOM_V12.slice(0, -1) + "+" }, "12", /room_id/);
  const create = { ...valid("12"), type: "m.room.create", state_key: "", prev_events: [], auth_events: [] } as Record<string, unknown>;
  delete create.room_id;
  ok(create, "12");
  bad({ ...create, room_id: ROOM_V12 }, "12", /has no room_id/);
  // Before v12 a create event carries its room id like any other.
  const create11 = { ...valid("11"), type: "m.room.create", state_key: "" } as Record<string, unknown>;
  ok(create11, "11");
  delete create11.room_id;
  bad(create11, "11", /room_id is required/);
  // A v12 event with a state key other than "" is not the create event.
  const notCreate = { ...create, state_key: "x" };
  bad(notCreate, "12", /room_id is required/);
});

test("sender: the historical user id grammar is accepted, a malformed id is not", () => {
  ok({ ...valid("11"), sender: "@:example.org" }, "11");
  ok({ ...valid("11"), sender: "@Ünïcode Name:example.org:8448" }, "11");
  ok({ ...valid("11"), sender: "@a:[1234:5678::abcd]:5678" }, "11");
  bad({ ...valid("11"), sender: "alice:example.org" }, "11", /sender/);
  bad({ ...valid("11"), sender: "@alice" }, "11", /sender/);
  bad({ ...valid("11"), sender: "@alice:exa mple.org" }, "11", /sender/);
  bad({ ...valid("11"), sender: "@al\u0000ice:example.org" }, "11", /sender/);
});

test("depth: an integer in [0, 2^53-1]", () => {
  ok({ ...valid("11"), depth: 0 }, "11");
  ok({ ...valid("11"), depth: Number.MAX_SAFE_INTEGER }, "11");
  ok({ ...valid("3"), depth: Number.MAX_SAFE_INTEGER }, "3");
  for (const d of [-1, 1.5, 2 ** 53, "3", null]) {
    bad({ ...valid("11"), depth: d }, "11", /depth/);
    bad({ ...valid("3"), depth: d }, "3", /depth/);
  }
});

test("prev_events / auth_events: [id, hashes] pairs in v1-v2, ids of the version's alphabet from v3", () => {
  bad({ ...valid("1"), prev_events: ["$p:example.org"] }, "1", /prev_events entries must be \[event_id, hashes\]/);
  bad({ ...valid("2"), auth_events: [["$a:example.org"]] }, "2", /auth_events entries/);
  bad({ ...valid("1"), prev_events: [["nodollar", { sha256: "a" }]] }, "1", /malformed event id/);
  bad({ ...valid("3"), prev_events: [["$p:example.org", { sha256: "a" }]] }, "3", /malformed event id/);
  bad({ ...valid("3"), prev_events: [ID_V4] }, "3", /malformed event id/);
  bad({ ...valid("4"), prev_events: [ID_V3] }, "4", /malformed event id/);
  bad({ ...valid("11"), auth_events: ["$short"] }, "11", /malformed event id/);
  bad({ ...valid("11"), prev_events: "nope" }, "11", /prev_events must be an array/);
});

test("prev_events at most 20, auth_events at most 10", () => {
  ok({ ...valid("11"), prev_events: Array(20).fill(ID_V4), auth_events: Array(10).fill(ID_V4) }, "11");
  bad({ ...valid("11"), prev_events: Array(21).fill(ID_V4) }, "11", /prev_events holds more than 20/);
  bad({ ...valid("11"), auth_events: Array(11).fill(ID_V4) }, "11", /auth_events holds more than 10/);
  bad({ ...valid("1"), auth_events: Array(11).fill(["$a:example.org", { sha256: "a" }]) }, "1", /auth_events holds more than 10/);
});

test("strict canonical JSON from v6: floats and out-of-range integers anywhere are refused; v1-v5 accept them", () => {
  for (const content of [{ x: 1.5 }, { nested: [{ y: 2 ** 53 }] }, { z: -(2 ** 60) }]) {
    for (const v of ["1", "3", "5"]) ok({ ...valid(v), content }, v);
    for (const v of ["6", "11", "12"]) bad({ ...valid(v), content }, v, /not canonical JSON/);
  }
  bad({ ...valid("6"), unsigned: { age: 0.5 } }, "6", /not canonical JSON/);
  bad({ ...valid("6"), origin_server_ts: 2 ** 53 }, "6", /not canonical JSON/);
});

test("redacts: a string when top-level (v1-v10)", () => {
  bad({ ...valid("10"), type: "m.room.redaction", redacts: 5 }, "10", /redacts/);
  ok({ ...valid("10"), type: "m.room.redaction", redacts: ID_V4 }, "10");
});

test("received events: id fields held to 255 code points, as Synapse does (70 emoji are 280 bytes and pass)", () => {
  const emoji = "💥".repeat(70);
  bad({ ...valid("11"), state_key: emoji }, "11", /state_key is longer than 255 bytes/);
  checkEventFormat({ ...valid("11"), state_key: emoji }, rules("11"), { received: true });
  assert.throws(() => checkEventFormat({ ...valid("11"), state_key: "💥".repeat(256) }, rules("11"), { received: true }), /longer than 255 code points/);
});
