import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { decodeBase64, encodeBase64, encodeBase64Url } from "../../../src/crypto/base64.js";
import { signingKeyFromSeed } from "../../../src/crypto/keys.js";
import { signEvent } from "../../../src/room/event.js";
import {
  checkContentHash, computeContentHash, computeEventId, computeReferenceHash, roomIdForCreateEvent,
} from "../../../src/room/event-id.js";
import { EventFormatError, type PDU } from "../../../src/room/types.js";
import { getRoomVersion, type RoomVersionRules } from "../../../src/room/versions.js";

function rules(v: string): RoomVersionRules {
  const r = getRoomVersion(v);
  if (!r) throw new Error(`no room version ${v}`);
  return r;
}
const ALL = Array.from({ length: 12 }, (_, i) => rules(String(i + 1)));
const sha = (s: string) => createHash("sha256").update(s, "utf8").digest();

// appendices.md, "Cryptographic Test Vectors".
const KEY = signingKeyFromSeed("ed25519:1", decodeBase64("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"));

const MINIMAL_EVENT = {
  room_id: "!x:domain",
  sender: "@a:domain",
  origin: "domain",
  origin_server_ts: 1000000,
  signatures: {},
  hashes: {},
  type: "X",
  content: {},
  prev_events: [],
  auth_events: [],
  depth: 3,
  unsigned: { age_ts: 1000000 },
} as unknown as PDU;

const REDACTABLE_EVENT = {
  content: { body: "Here is the message content" },
  event_id: "$0:domain",
  origin: "domain",
  origin_server_ts: 1000000,
  type: "m.room.message",
  room_id: "!r:domain",
  sender: "@u:domain",
  signatures: {},
  unsigned: { age_ts: 1000000 },
} as unknown as PDU;

test("event signing test vector: the minimally-sized event (hash and signature, whole output)", () => {
  // The vectors keep `origin`, which only the pre-v11 redaction algorithms
  // do, so they hold for every version from 1 to 10.
  for (const r of ALL.filter((x) => x.redaction !== "v11")) {
    assert.deepEqual(signEvent(MINIMAL_EVENT, "domain", KEY, r), {
      auth_events: [],
      content: {},
      depth: 3,
      hashes: { sha256: "5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos" },
      origin: "domain",
      origin_server_ts: 1000000,
      prev_events: [],
      room_id: "!x:domain",
      sender: "@a:domain",
      signatures: {
        domain: {
          "ed25519:1": "KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg",
        },
      },
      type: "X",
      unsigned: { age_ts: 1000000 },
    }, `room version ${r.id}`);
  }
});

test("event signing test vector: the event with redactable content", () => {
  for (const r of ALL.filter((x) => x.redaction !== "v11")) {
    assert.deepEqual(signEvent(REDACTABLE_EVENT, "domain", KEY, r), {
      content: { body: "Here is the message content" },
      event_id: "$0:domain",
      hashes: { sha256: "onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g" },
      origin: "domain",
      origin_server_ts: 1000000,
      type: "m.room.message",
      room_id: "!r:domain",
      sender: "@u:domain",
      signatures: {
        domain: {
          "ed25519:1": "Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA",
        },
      },
      unsigned: { age_ts: 1000000 },
    }, `room version ${r.id}`);
  }
});

test("under the v11 redaction algorithm the vectors' hashes hold but their signatures do not (origin is no longer signed)", () => {
  for (const r of [rules("11"), rules("12")]) {
    const signed = signEvent(MINIMAL_EVENT, "domain", KEY, r);
    assert.equal(signed.hashes.sha256, "5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos");
    assert.notEqual(signed.signatures.domain["ed25519:1"], "KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg");
  }
});

test("content hash: sha256 of the canonical event without unsigned, signatures and hashes", () => {
  assert.equal(
    computeContentHash(MINIMAL_EVENT),
    encodeBase64(sha('{"auth_events":[],"content":{},"depth":3,"origin":"domain","origin_server_ts":1000000,"prev_events":[],"room_id":"!x:domain","sender":"@a:domain","type":"X"}')),
  );
  const decorated = { ...MINIMAL_EVENT, unsigned: { other: 1 }, signatures: { s: { "ed25519:k": "x" } }, hashes: { sha256: "zzz" } };
  assert.equal(computeContentHash(decorated), computeContentHash(MINIMAL_EVENT));
  assert.notEqual(computeContentHash({ ...MINIMAL_EVENT, content: { a: 1 } }), computeContentHash(MINIMAL_EVENT));
});

test("checkContentHash: true for a signed event, false when any hashed key changes, padding tolerated", () => {
  const signed = signEvent(REDACTABLE_EVENT, "domain", KEY, rules("1"));
  assert.equal(checkContentHash(signed), true);
  assert.equal(checkContentHash({ ...signed, content: { body: "changed" } }), false);
  assert.equal(checkContentHash({ ...signed, origin: "elsewhere" }), false);
  assert.equal(checkContentHash({ ...signed, unsigned: { age: 5 } }), true);
  assert.equal(checkContentHash({ ...signed, hashes: { sha256: signed.hashes.sha256 + "=" } }), true);
  assert.equal(checkContentHash({ ...signed, hashes: { sha256: "not base64!" } }), false);
  assert.equal(checkContentHash({ ...signed, hashes: {} as PDU["hashes"] }), false);
});

test("content hash under strict canonical JSON (v6+) refuses floats; v1-v5 hash them", () => {
  const floaty = { ...MINIMAL_EVENT, content: { x: 1.5 } };
  assert.doesNotThrow(() => computeContentHash(floaty, rules("5")));
  assert.throws(() => computeContentHash(floaty, rules("6")));
});

const MESSAGE: PDU = {
  type: "m.room.message",
  room_id: "!r:example.org",
  sender: "@u:example.org",
  content: { body: "hi", msgtype: "m.text" },
  origin_server_ts: 1000,
  depth: 5,
  prev_events: ["$p"],
  auth_events: ["$a"],
  hashes: { sha256: "X" },
  signatures: { "example.org": { "ed25519:1": "sig" } },
  unsigned: { age: 1 },
  origin: "example.org",
};

test("reference hash: sha256 of the redacted event without signatures and unsigned, written out by hand", () => {
  const pre11 = '{"auth_events":["$a"],"content":{},"depth":5,"hashes":{"sha256":"X"},"origin":"example.org","origin_server_ts":1000,"prev_events":["$p"],"room_id":"!r:example.org","sender":"@u:example.org","type":"m.room.message"}';
  const v11 = '{"auth_events":["$a"],"content":{},"depth":5,"hashes":{"sha256":"X"},"origin_server_ts":1000,"prev_events":["$p"],"room_id":"!r:example.org","sender":"@u:example.org","type":"m.room.message"}';
  assert.deepEqual(Buffer.from(computeReferenceHash(MESSAGE, rules("4"))), sha(pre11));
  assert.deepEqual(Buffer.from(computeReferenceHash(MESSAGE, rules("11"))), sha(v11));
});

test("reference hash: stable under redaction, new signatures and unsigned; changed by any essential key", () => {
  const r = rules("10");
  const base = computeReferenceHash(MESSAGE, r);
  assert.deepEqual(computeReferenceHash({ ...MESSAGE, content: {} }, r), base);
  assert.deepEqual(computeReferenceHash({ ...MESSAGE, signatures: {}, unsigned: undefined }, r), base);
  assert.deepEqual(computeReferenceHash({ ...MESSAGE, extra_junk: 1 }, r), base);
  assert.notDeepEqual(computeReferenceHash({ ...MESSAGE, depth: 6 }, r), base);
  assert.notDeepEqual(computeReferenceHash({ ...MESSAGE, hashes: { sha256: "Y" } }, r), base);
});

/** The first variant of MESSAGE whose reference hash has a '+' or '/' in standard base64. */
function messageWithPlusOrSlash(): PDU {
  for (let ts = 0; ; ts++) {
    const pdu = { ...MESSAGE, origin_server_ts: ts };
    if (/[+/]/.test(encodeBase64(computeReferenceHash(pdu, rules("3"))))) return pdu;
  }
}

test("event ids for every room version: v1-v2 server-assigned, v3 standard base64, v4+ URL-safe base64", () => {
  const pdu = messageWithPlusOrSlash();
  for (const r of ALL) {
    if (r.eventIdFormat === "server-assigned") {
      assert.equal(computeEventId({ ...pdu, event_id: "$abc:example.org" }, r), "$abc:example.org", r.id);
      assert.throws(() => computeEventId(pdu, r), EventFormatError, r.id);
      continue;
    }
    const id = computeEventId(pdu, r);
    const hash = computeReferenceHash(pdu, r);
    assert.equal(id.length, 44, r.id);
    if (r.id === "3") {
      assert.equal(id, "$" + encodeBase64(hash));
      assert.match(id, /[+/]/);
    } else {
      assert.equal(id, "$" + encodeBase64Url(hash), r.id);
      assert.match(id, /^\$[A-Za-z0-9_-]{43}$/, r.id);
    }
  }
  assert.equal(ALL.filter((r) => r.eventIdFormat === "server-assigned").map((r) => r.id).join(), "1,2");
  assert.equal(ALL.filter((r) => r.eventIdFormat === "reference-hash").map((r) => r.id).join(), "3");
  // v3 and v4 share the redaction algorithm, so the same bytes, two alphabets.
  assert.deepEqual(decodeBase64(computeEventId(pdu, rules("3")).slice(1)), decodeBase64(computeEventId(pdu, rules("4")).slice(1)));
});

test("event id: a redacted copy keeps its id (v4+)", () => {
  const r = rules("9");
  assert.equal(computeEventId({ ...MESSAGE, content: {}, unsigned: undefined }, r), computeEventId(MESSAGE, r));
});

const CREATE_V12: PDU = {
  type: "m.room.create",
  state_key: "",
  sender: "@creator:example.org",
  content: { room_version: "12" },
  origin_server_ts: 1,
  depth: 1,
  prev_events: [],
  auth_events: [],
  hashes: { sha256: "h" },
  signatures: {},
};

test("v12 room id: '!' + URL-safe reference hash of the create event, i.e. its event id with '!'", () => {
  const r = rules("12");
  const roomId = roomIdForCreateEvent(CREATE_V12, r);
  assert.equal(roomId, "!" + encodeBase64Url(computeReferenceHash(CREATE_V12, r)));
  assert.equal(roomId, "!" + computeEventId(CREATE_V12, r).slice(1));
  assert.match(roomId, /^![A-Za-z0-9_-]{43}$/);
  // v11 redaction keeps all create content, so the room version is part of the id.
  assert.notEqual(roomIdForCreateEvent({ ...CREATE_V12, content: { room_version: "12", x: 1 } }, r), roomId);
});

test("v12 room id: only for a create event, and only in a version that derives room ids", () => {
  assert.throws(() => roomIdForCreateEvent(CREATE_V12, rules("11")), EventFormatError);
  assert.throws(() => roomIdForCreateEvent({ ...CREATE_V12, type: "m.room.name" }, rules("12")), EventFormatError);
  assert.throws(() => roomIdForCreateEvent({ ...CREATE_V12, state_key: "x" }, rules("12")), EventFormatError);
});
