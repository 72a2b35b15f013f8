import { test } from "node:test";
import assert from "node:assert/strict";
import { redactContent, redactPdu } from "../../../src/room/redaction.js";
import type { JsonObject, PDU } from "../../../src/room/types.js";
import { getRoomVersion, type RedactionAlgorithm, type RoomVersionRules } from "../../../src/room/versions.js";

function rules(v: string): RoomVersionRules {
  const r = getRoomVersion(v);
  if (!r) throw new Error(`no room version ${v}`);
  return r;
}

/** One room version per redaction algorithm revision. */
const BY_ALGORITHM: Record<RedactionAlgorithm, RoomVersionRules> = {
  v1: rules("1"), v6: rules("6"), v8: rules("8"), v9: rules("9"), v11: rules("11"),
};

test("the version table maps versions to the fragments the spec's room pages name", () => {
  // rooms/v1..v5.md: v1-redactions; v6, v7: v6-redactions; v8: its own list; v9, v10: v9-redactions; v11, v12: v11-redactions.
  const expected = ["v1", "v1", "v1", "v1", "v1", "v6", "v6", "v8", "v9", "v9", "v11", "v11"];
  assert.deepEqual(Array.from({ length: 12 }, (_, i) => rules(String(i + 1)).redaction), expected);
});

/** Every top-level key any revision keeps, plus some none keeps. */
/** stateKey null: a message event, without state_key. */
function pdu(type: string, content: JsonObject, stateKey: string | null): PDU {
  const p: PDU = {
    event_id: "$e:example.org",
    type,
    room_id: "!r:example.org",
    sender: "@u:example.org",
    content,
    hashes: { sha256: "aGFzaA" },
    signatures: { "example.org": { "ed25519:1": "c2ln" } },
    depth: 7,
    prev_events: ["$p"],
    prev_state: [],
    auth_events: ["$a"],
    origin: "example.org",
    origin_server_ts: 1234,
    membership: "join",
    unsigned: { age: 1 },
    redacts: "$x",
    custom_top_level: true,
  };
  if (stateKey !== null) p.state_key = stateKey;
  return p;
}

const TOP_V1 = [
  "auth_events", "content", "depth", "event_id", "hashes", "membership", "origin", "origin_server_ts",
  "prev_events", "prev_state", "room_id", "sender", "signatures", "state_key", "type",
].sort();
const TOP_V11 = TOP_V1.filter((k) => !["membership", "origin", "prev_state"].includes(k));

const CONTENTS: Record<string, JsonObject> = {
  "m.room.create": { creator: "@u:example.org", room_version: "9", "m.federate": false, predecessor: { room_id: "!old:x" }, type: "m.space" },
  "m.room.member": {
    membership: "join", displayname: "U", avatar_url: "mxc://x/y", reason: "hi",
    join_authorised_via_users_server: "@admin:example.org",
    third_party_invite: { display_name: "u...@e", signed: { mxid: "@u:example.org", token: "t", signatures: {} } },
  },
  "m.room.join_rules": { join_rule: "restricted", allow: [{ type: "m.room_membership", room_id: "!s:x" }], other: 1 },
  "m.room.power_levels": {
    ban: 50, events: { "m.room.name": 50 }, events_default: 0, invite: 0, kick: 50, redact: 50,
    state_default: 50, users: { "@u:example.org": 100 }, users_default: 0, notifications: { room: 50 }, historical: 100,
  },
  "m.room.history_visibility": { history_visibility: "shared", other: 1 },
  "m.room.aliases": { aliases: ["#a:example.org"], other: 1 },
  "m.room.redaction": { redacts: "$victim", reason: "spam" },
  "m.room.message": { msgtype: "m.text", body: "hello" },
};

/** Content keys that survive, per revision and type: the five fragments, written out in full. */
const KEPT: Record<RedactionAlgorithm, Record<string, string[]>> = {
  v1: {
    "m.room.create": ["creator"],
    "m.room.member": ["membership"],
    "m.room.join_rules": ["join_rule"],
    "m.room.power_levels": ["ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default"],
    "m.room.history_visibility": ["history_visibility"],
    "m.room.aliases": ["aliases"],
    "m.room.redaction": [],
    "m.room.message": [],
  },
  v6: {
    "m.room.create": ["creator"],
    "m.room.member": ["membership"],
    "m.room.join_rules": ["join_rule"],
    "m.room.power_levels": ["ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default"],
    "m.room.history_visibility": ["history_visibility"],
    "m.room.aliases": [],
    "m.room.redaction": [],
    "m.room.message": [],
  },
  v8: {
    "m.room.create": ["creator"],
    "m.room.member": ["membership"],
    "m.room.join_rules": ["allow", "join_rule"],
    "m.room.power_levels": ["ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default"],
    "m.room.history_visibility": ["history_visibility"],
    "m.room.aliases": [],
    "m.room.redaction": [],
    "m.room.message": [],
  },
  v9: {
    "m.room.create": ["creator"],
    "m.room.member": ["join_authorised_via_users_server", "membership"],
    "m.room.join_rules": ["allow", "join_rule"],
    "m.room.power_levels": ["ban", "events", "events_default", "kick", "redact", "state_default", "users", "users_default"],
    "m.room.history_visibility": ["history_visibility"],
    "m.room.aliases": [],
    "m.room.redaction": [],
    "m.room.message": [],
  },
  v11: {
    "m.room.create": ["creator", "m.federate", "predecessor", "room_version", "type"],
    "m.room.member": ["join_authorised_via_users_server", "membership", "third_party_invite"],
    "m.room.join_rules": ["allow", "join_rule"],
    "m.room.power_levels": ["ban", "events", "events_default", "invite", "kick", "redact", "state_default", "users", "users_default"],
    "m.room.history_visibility": ["history_visibility"],
    "m.room.aliases": [],
    "m.room.redaction": ["redacts"],
    "m.room.message": [],
  },
};

for (const algo of Object.keys(BY_ALGORITHM) as RedactionAlgorithm[]) {
  test(`redaction ${algo}: exactly these top-level and content keys survive, per event type`, () => {
    const r = BY_ALGORITHM[algo];
    for (const [type, content] of Object.entries(CONTENTS)) {
      const stateKey = type === "m.room.message" || type === "m.room.redaction" ? null : type === "m.room.member" ? "@u:example.org" : "";
      const out = redactPdu(pdu(type, content, stateKey), r);
      const top = (algo === "v11" ? TOP_V11 : TOP_V1).filter((k) => k !== "state_key" || stateKey !== null);
      assert.deepEqual(Object.keys(out).sort(), top, `${algo} ${type} top level`);
      assert.deepEqual(Object.keys(out.content).sort(), KEPT[algo][type], `${algo} ${type} content`);
      for (const k of KEPT[algo][type]) {
        if (!(algo === "v11" && k === "third_party_invite")) assert.deepEqual(out.content[k], content[k], `${algo} ${type} ${k} kept whole`);
      }
    }
  });
}

const keptContent = (algo: RedactionAlgorithm, type: string) => Object.keys(redactContent(type, CONTENTS[type], BY_ALGORITHM[algo])).sort();

test("v1 -> v6: m.room.aliases loses `aliases` and nothing else changes", () => {
  for (const type of Object.keys(CONTENTS)) {
    if (type === "m.room.aliases") {
      assert.deepEqual(keptContent("v1", type), ["aliases"]);
      assert.deepEqual(keptContent("v6", type), []);
    } else assert.deepEqual(keptContent("v6", type), keptContent("v1", type), type);
  }
});

test("v6 -> v8: m.room.join_rules keeps `allow` and nothing else changes", () => {
  for (const type of Object.keys(CONTENTS)) {
    if (type === "m.room.join_rules") {
      assert.deepEqual(keptContent("v6", type), ["join_rule"]);
      assert.deepEqual(keptContent("v8", type), ["allow", "join_rule"]);
    } else assert.deepEqual(keptContent("v8", type), keptContent("v6", type), type);
  }
});

test("v8 -> v9: m.room.member keeps `join_authorised_via_users_server` and nothing else changes", () => {
  for (const type of Object.keys(CONTENTS)) {
    if (type === "m.room.member") {
      assert.deepEqual(keptContent("v8", type), ["membership"]);
      assert.deepEqual(keptContent("v9", type), ["join_authorised_via_users_server", "membership"]);
    } else assert.deepEqual(keptContent("v9", type), keptContent("v8", type), type);
  }
});

test("v9 -> v11: create keeps all, PL keeps invite, member keeps third_party_invite.signed, redaction keeps redacts; origin, membership, prev_state go", () => {
  const changed = new Set(["m.room.create", "m.room.power_levels", "m.room.member", "m.room.redaction"]);
  for (const type of Object.keys(CONTENTS)) {
    if (!changed.has(type)) assert.deepEqual(keptContent("v11", type), keptContent("v9", type), type);
  }
  assert.deepEqual(keptContent("v9", "m.room.create"), ["creator"]);
  assert.deepEqual(redactContent("m.room.create", CONTENTS["m.room.create"], BY_ALGORITHM.v11), CONTENTS["m.room.create"]);
  assert.ok(!keptContent("v9", "m.room.power_levels").includes("invite"));
  assert.ok(keptContent("v11", "m.room.power_levels").includes("invite"));
  assert.deepEqual(redactContent("m.room.member", CONTENTS["m.room.member"], BY_ALGORITHM.v11).third_party_invite, {
    signed: { mxid: "@u:example.org", token: "t", signatures: {} },
  });
  assert.deepEqual(keptContent("v9", "m.room.redaction"), []);
  assert.deepEqual(keptContent("v11", "m.room.redaction"), ["redacts"]);
  const v9 = Object.keys(redactPdu(pdu("m.room.message", {}, null), BY_ALGORITHM.v9));
  const v11 = Object.keys(redactPdu(pdu("m.room.message", {}, null), BY_ALGORITHM.v11));
  assert.deepEqual(v9.filter((k) => !v11.includes(k)).sort(), ["membership", "origin", "prev_state"]);
});

test("v11 member: third_party_invite survives only as its `signed` key, and only if it has one", () => {
  const r = BY_ALGORITHM.v11;
  assert.deepEqual(redactContent("m.room.member", { membership: "invite", third_party_invite: { display_name: "x" } }, r), { membership: "invite" });
  assert.deepEqual(redactContent("m.room.member", { membership: "invite", third_party_invite: "odd" }, r), { membership: "invite" });
  assert.deepEqual(redactContent("m.room.member", { membership: "invite", third_party_invite: { signed: 5 } }, r), { membership: "invite", third_party_invite: { signed: 5 } });
  // Before v11 it never survives.
  assert.deepEqual(redactContent("m.room.member", CONTENTS["m.room.member"], BY_ALGORITHM.v9).third_party_invite, undefined);
});

test("redaction copies: the input event is untouched and absent keys are not invented", () => {
  const input = pdu("m.room.member", { ...CONTENTS["m.room.member"] }, "@u:example.org");
  const snapshot = JSON.stringify(input);
  redactPdu(input, BY_ALGORITHM.v11);
  assert.equal(JSON.stringify(input), snapshot);
  const bare: PDU = {
    type: "m.room.join_rules", room_id: "!r:x", sender: "@u:x", state_key: "", content: {},
    origin_server_ts: 1, depth: 1, prev_events: [], auth_events: [], hashes: { sha256: "" }, signatures: {},
  };
  const out = redactPdu(bare, BY_ALGORITHM.v1);
  assert.deepEqual(Object.keys(out).sort(), ["auth_events", "content", "depth", "hashes", "origin_server_ts", "prev_events", "room_id", "sender", "signatures", "state_key", "type"]);
  assert.deepEqual(out.content, {});
  // Keys inherited from Object.prototype are not "in" the content.
  assert.deepEqual(redactContent("m.room.message", JSON.parse('{"constructor":1,"__proto__":{"membership":"x"}}'), BY_ALGORITHM.v1), {});
  assert.deepEqual(redactContent("m.room.member", JSON.parse('{"__proto__":{"membership":"x"}}'), BY_ALGORITHM.v1), {});
});
