import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  creators,
  originalCreator,
  parseLevel,
  parsePowerLevels,
  powerLevelsOf,
  requiredPowerLevel,
  roomNotificationLevelIn,
  userPowerLevel,
} from "../../../src/room/power-levels.js";
import { isValidUserId } from "../../../src/room/identifiers.js";
import { stateKey, type JsonObject, type JsonValue, type RoomEvent, type StateLookup } from "../../../src/room/types.js";
import { getRoomVersion, type RoomVersionRules } from "../../../src/room/versions.js";
import { makeEvent } from "../../support/events.js";

const VERSIONS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"];
const rulesOf = (v: string): RoomVersionRules => {
  const r = getRoomVersion(v);
  assert.ok(r, `room version ${v}`);
  return r;
};

const ALICE = "@alice:a.org";
const BOB = "@bob:b.org";
const CAROL = "@carol:c.org";

function lookup(...events: RoomEvent[]): StateLookup {
  const m = new Map<string, RoomEvent>();
  for (const e of events) if (e.stateKey !== undefined) m.set(stateKey(e.type, e.stateKey), e);
  return (t, k) => m.get(stateKey(t, k));
}

function create(version: string, content: JsonObject = {}, sender = ALICE): RoomEvent {
  const rules = rulesOf(version);
  const c: JsonObject = { room_version: version, ...content };
  if (!rules.creatorIsSender && !("creator" in content)) c.creator = sender;
  return makeEvent({ id: "$create", type: "m.room.create", sender, stateKey: "", content: c, roomVersion: version });
}

function powerLevels(version: string, content: JsonObject): RoomEvent {
  return makeEvent({ id: "$pl", type: "m.room.power_levels", sender: ALICE, stateKey: "", content, roomVersion: version });
}

describe("parseLevel", () => {
  // [value, what v1–v5 read, what v6–v9 read, what v10+ read]
  const table: Array<[JsonValue, number | undefined, number | undefined, number | undefined]> = [
    [50, 50, 50, 50],
    [-7, -7, -7, -7],
    ["50", 50, 50, undefined],
    [" +050 ", 50, 50, undefined],
    ["-100", -100, -100, undefined],
    ["000100", 100, 100, undefined],
    ["50.5", undefined, undefined, undefined],
    ["5e1", undefined, undefined, undefined],
    ["+-5", undefined, undefined, undefined],
    ["", undefined, undefined, undefined],
    ["abc", undefined, undefined, undefined],
    [50.57, 50, undefined, undefined],
    [-50.9, -50, undefined, undefined],
    [5.114698e4, 51146, undefined, undefined],
    [2 ** 53, 2 ** 53, undefined, undefined],
    [Infinity, undefined, undefined, undefined],
    [true, undefined, undefined, undefined],
    [null, undefined, undefined, undefined],
    [{}, undefined, undefined, undefined],
  ];
  for (const [value, v1to5, v6to9, v10plus] of table) {
    it(`reads ${JSON.stringify(value) ?? String(value)} per version`, () => {
      for (const v of VERSIONS) {
        const n = Number(v);
        const want = n <= 5 ? v1to5 : n <= 9 ? v6to9 : v10plus;
        assert.equal(parseLevel(value, rulesOf(v)), want, `v${v}`);
      }
    });
  }

  it("never yields negative zero", () => {
    assert.ok(Object.is(parseLevel("-0", rulesOf("9")), 0));
    assert.ok(Object.is(parseLevel(-0.4, rulesOf("1")), 0));
  });
});

describe("parsePowerLevels", () => {
  it("fills the spec defaults when there is no event", () => {
    const pl = parsePowerLevels(undefined, rulesOf("10"));
    assert.equal(pl.exists, false);
    assert.deepEqual(
      [pl.ban, pl.kick, pl.redact, pl.invite, pl.events_default, pl.state_default, pl.users_default],
      [50, 50, 50, 0, 0, 50, 0],
    );
    assert.equal(roomNotificationLevelIn(pl), 50);
  });

  it("fills the same defaults for keys missing from an event", () => {
    const pl = parsePowerLevels({}, rulesOf("10"));
    assert.equal(pl.exists, true);
    assert.deepEqual([pl.ban, pl.kick, pl.redact, pl.invite, pl.state_default], [50, 50, 50, 0, 50]);
  });

  it("reads stringy values before v10 and falls back to the default after", () => {
    const content = { ban: "20", events: { "m.room.name": "10" }, users: { [BOB]: "30" }, notifications: { room: "5" } };
    const v9 = parsePowerLevels(content, rulesOf("9"));
    assert.equal(v9.ban, 20);
    assert.equal(v9.events.get("m.room.name"), 10);
    assert.equal(v9.users.get(BOB), 30);
    assert.equal(roomNotificationLevelIn(v9), 5);
    const v10 = parsePowerLevels(content, rulesOf("10"));
    assert.equal(v10.ban, 50);
    assert.equal(v10.events.has("m.room.name"), false);
    assert.equal(v10.users.has(BOB), false);
  });
});

describe("creators", () => {
  it("is content.creator in v1–v10, the sender in v11, sender + additional_creators in v12", () => {
    for (const v of VERSIONS) {
      const ev = makeEvent({
        id: "$c",
        type: "m.room.create",
        sender: ALICE,
        stateKey: "",
        content: { creator: CAROL, additional_creators: [BOB, ALICE, 7] },
      });
      const want = Number(v) <= 10 ? [CAROL] : v === "11" ? [ALICE] : [ALICE, BOB];
      assert.deepEqual(creators(ev, rulesOf(v)), want, `v${v}`);
      assert.equal(originalCreator(ev, rulesOf(v)), Number(v) <= 10 ? CAROL : ALICE, `v${v}`);
    }
  });

  it("has no creator when v1–v10 content.creator is missing or not a string", () => {
    const ev = makeEvent({ id: "$c", type: "m.room.create", sender: ALICE, stateKey: "", content: { creator: 1 } });
    assert.deepEqual(creators(ev, rulesOf("10")), []);
  });
});

describe("userPowerLevel", () => {
  it("gives the creator 100 and others 0 without a power-levels event (v1–v11)", () => {
    for (const v of VERSIONS.filter((x) => x !== "12")) {
      const s = lookup(create(v));
      assert.equal(userPowerLevel(s, ALICE, rulesOf(v)), 100, `v${v}`);
      assert.equal(userPowerLevel(s, BOB, rulesOf(v)), 0, `v${v}`);
    }
  });

  it("gives v12 creators infinite power with or without a power-levels event", () => {
    const c = create("12", { additional_creators: [BOB] });
    const none = lookup(c);
    assert.equal(userPowerLevel(none, ALICE, rulesOf("12")), Infinity);
    assert.equal(userPowerLevel(none, BOB, rulesOf("12")), Infinity);
    assert.equal(userPowerLevel(none, CAROL, rulesOf("12")), 0);
    // Even a (would-be rejected) users entry cannot lower a creator.
    const withPl = lookup(c, powerLevels("12", { users: { [BOB]: 1, [CAROL]: 40 } }));
    assert.equal(userPowerLevel(withPl, BOB, rulesOf("12")), Infinity);
    assert.equal(userPowerLevel(withPl, CAROL, rulesOf("12")), 40);
  });

  it("reads users then users_default once a power-levels event exists", () => {
    for (const v of VERSIONS) {
      const s = lookup(create(v), powerLevels(v, { users: { [BOB]: 40 }, users_default: 5 }));
      assert.equal(userPowerLevel(s, BOB, rulesOf(v)), 40, `v${v}`);
      assert.equal(userPowerLevel(s, CAROL, rulesOf(v)), 5, `v${v}`);
      // The v1–v11 creator is only special without an event.
      assert.equal(userPowerLevel(s, ALICE, rulesOf(v)), v === "12" ? Infinity : 5, `v${v}`);
    }
  });

  it("uses content.creator in v10 and the sender in v11", () => {
    const content = { creator: CAROL };
    const v10 = lookup(create("10", content));
    assert.equal(userPowerLevel(v10, CAROL, rulesOf("10")), 100);
    assert.equal(userPowerLevel(v10, ALICE, rulesOf("10")), 0);
    const v11 = lookup(create("11", content));
    assert.equal(userPowerLevel(v11, CAROL, rulesOf("11")), 0);
    assert.equal(userPowerLevel(v11, ALICE, rulesOf("11")), 100);
  });

  it("reads a stringy user level in v9 but not in v10", () => {
    const pl = { users: { [BOB]: "75" }, users_default: 3 };
    assert.equal(userPowerLevel(lookup(create("9"), powerLevels("9", pl)), BOB, rulesOf("9")), 75);
    assert.equal(userPowerLevel(lookup(create("10"), powerLevels("10", pl)), BOB, rulesOf("10")), 3);
  });

  it("truncates a float user level in v5 (floaty power levels)", () => {
    const s = lookup(create("5"), powerLevels("5", { users: { [BOB]: 50.57 } }));
    assert.equal(userPowerLevel(s, BOB, rulesOf("5")), 50);
  });
});

describe("requiredPowerLevel", () => {
  it("uses events, then state_default or events_default", () => {
    const r = rulesOf("10");
    const s = lookup(create("10"), powerLevels("10", { events: { "m.room.name": 70, "m.custom": 9 }, state_default: 60, events_default: 10 }));
    assert.equal(requiredPowerLevel(s, "m.room.name", "", r), 70);
    assert.equal(requiredPowerLevel(s, "m.custom", undefined, r), 9);
    assert.equal(requiredPowerLevel(s, "m.room.topic", "", r), 60);
    assert.equal(requiredPowerLevel(s, "m.room.message", undefined, r), 10);
  });

  it("is 50 for state and 0 for messages without a power-levels event", () => {
    const s = lookup(create("10"));
    assert.equal(requiredPowerLevel(s, "m.room.topic", "", rulesOf("10")), 50);
    assert.equal(requiredPowerLevel(s, "m.room.message", undefined, rulesOf("10")), 0);
    assert.equal(powerLevelsOf(s, rulesOf("10")).exists, false);
  });
});

describe("isValidUserId", () => {
  const valid = ["@alice:example.org", "@a:1.2.3.4:8448", "@a:[::1]", "@:example.org", "@ALICE é:example.org", "@a:localhost"];
  const invalid = ["alice:example.org", "@alice", "@alice:", "@alice:exa mple.org", "@a:b:c", "@a\u0000b:example.org", "@" + "a".repeat(250) + ":b.org"];
  for (const id of valid) it(`accepts ${JSON.stringify(id)}`, () => assert.equal(isValidUserId(id), true));
  for (const id of invalid) it(`rejects ${JSON.stringify(id).slice(0, 40)}`, () => assert.equal(isValidUserId(id), false));
});
