import assert from "node:assert/strict";
import { describe, it } from "node:test";
import nacl from "tweetnacl";

import { authEventTypes, checkAuth, checkAuthEvents } from "../../../src/room/auth.js";
import { AuthError, stateKey, type JsonObject, type RoomEvent, type StateLookup } from "../../../src/room/types.js";
import { getRoomVersion, type RoomVersionRules } from "../../../src/room/versions.js";
import { makeEvent, type EventSpec } from "../../support/events.js";

const ALL = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"];
const rulesOf = (v: string): RoomVersionRules => {
  const r = getRoomVersion(v);
  assert.ok(r, `room version ${v}`);
  return r;
};
const range = (from: number, to: number): string[] => ALL.filter((v) => Number(v) >= from && Number(v) <= to);

const ALICE = "@alice:a.org"; // creator
const BOB = "@bob:b.org";
const CAROL = "@carol:c.org";
const DAVE = "@dave:d.org";

type Spec = Omit<EventSpec, "id" | "roomId" | "roomVersion"> & { id?: string };

/**
 * A room at one version: the create event plus whatever state a test adds.
 * v12 rooms get the room id derived from the create event's id, as the
 * format requires; the others live at !room:a.org.
 */
class Room {
  readonly rules: RoomVersionRules;
  readonly roomId: string;
  readonly create: RoomEvent;
  private readonly state = new Map<string, RoomEvent>();
  private n = 0;

  constructor(
    readonly version: string,
    createContent: JsonObject = {},
    createSender = ALICE,
  ) {
    this.rules = rulesOf(version);
    this.roomId = this.rules.roomIdFromCreateEvent ? "!create" : "!room:a.org";
    const content: JsonObject = { room_version: version, ...createContent };
    if (!this.rules.creatorIsSender && !("creator" in createContent)) content.creator = createSender;
    this.create = this.put({ id: "$create", type: "m.room.create", sender: createSender, stateKey: "", content });
  }

  /** Build an event in this room without adding it to the state. */
  ev(spec: Spec): RoomEvent {
    const ev = makeEvent({ ...spec, id: spec.id ?? `$e${++this.n}`, roomId: this.roomId, roomVersion: this.version });
    if (ev.type === "m.room.create" && this.rules.roomIdFromCreateEvent) delete ev.pdu.room_id;
    return ev;
  }

  /** Build a state event and make it part of the room state. */
  put(spec: Spec): RoomEvent {
    const ev = this.ev(spec);
    assert.ok(ev.stateKey !== undefined);
    this.state.set(stateKey(ev.type, ev.stateKey), ev);
    return ev;
  }

  member(user: string, membership: string, sender = user, extra: JsonObject = {}): this {
    this.put({ type: "m.room.member", sender, stateKey: user, content: { membership, ...extra } });
    return this;
  }

  joinRule(rule: string): this {
    this.put({ type: "m.room.join_rules", sender: ALICE, stateKey: "", content: { join_rule: rule } });
    return this;
  }

  /** Power levels with Alice at 100 (v1–v11; a v12 creator is above any number and may not be listed). */
  powerLevels(content: JsonObject = {}): this {
    const users = { ...(this.rules.privilegedCreators ? {} : { [ALICE]: 100 }), ...((content.users as JsonObject) ?? {}) };
    this.put({ type: "m.room.power_levels", sender: ALICE, stateKey: "", content: { ...content, users } });
    return this;
  }

  lookup(): StateLookup {
    const snapshot = new Map(this.state);
    return (t, k) => snapshot.get(stateKey(t, k));
  }

  check(spec: Spec): void {
    checkAuth(this.ev(spec), this.lookup(), this.rules);
  }

  allows(spec: Spec, msg?: string): void {
    assert.doesNotThrow(() => this.check(spec), msg);
  }

  /** Asserts rejection and that the message starts with the rule number. */
  rejects(spec: Spec, rule: string, msg?: string): void {
    assert.throws(
      () => this.check(spec),
      (e: unknown) => {
        assert.ok(e instanceof AuthError, `expected AuthError, got ${String(e)}`);
        assert.ok(e.message.startsWith(`${rule}:`), `${msg ?? ""} expected rule ${rule}, got "${e.message}"`);
        return true;
      },
    );
  }
}

/** Alice created the room and joined; power levels exist; join rule as given. */
function basicRoom(version: string, joinRule = "invite", pl: JsonObject = {}): Room {
  return new Room(version).member(ALICE, "join").powerLevels(pl).joinRule(joinRule);
}

const msg = (sender: string, content: JsonObject = { body: "hi" }): Spec => ({ type: "m.room.message", sender, content });
const membership = (sender: string, target: string, m: string, extra: JsonObject = {}): Spec => ({
  type: "m.room.member",
  sender,
  stateKey: target,
  content: { membership: m, ...extra },
});

/** The member rule's number and its join/invite/… positions, per the spec page of each version. */
function memberRule(v: string): { member: number; join: string; invite: string; leave: string; ban: string; knock: string; unknown: string } {
  const r = rulesOf(v);
  const member = r.roomIdFromCreateEvent || r.specialCaseAliasesAuth ? 5 : 4;
  const j = r.restrictedJoins ? 3 : 2;
  return {
    member,
    join: `${member}.${j}`,
    invite: `${member}.${j + 1}`,
    leave: `${member}.${j + 2}`,
    ban: `${member}.${j + 3}`,
    knock: `${member}.${j + 4}`,
    unknown: `${member}.${j + (r.knocking ? 5 : 4)}`,
  };
}
/** Rules after the member rule: joined, 3pid invite, required level, @ state key, power levels. */
function laterRule(v: string, which: "joined" | "tpi" | "required" | "atKey" | "pl" | "redaction"): number {
  const offset = { joined: 1, tpi: 2, required: 3, atKey: 4, pl: 5, redaction: 6 }[which];
  return memberRule(v).member + offset;
}
const joinOtherwise = (v: string): string => `${memberRule(v).join}.${rulesOf(v).restrictedJoins ? 7 : 6}`;

// ---------------------------------------------------------------------------

describe("rule 1: m.room.create", () => {
  it("allows a well-formed create event in every version", () => {
    for (const v of ALL) assert.doesNotThrow(() => checkAuth(new Room(v).create, () => undefined, rulesOf(v)), `v${v}`);
  });

  it("1.1 rejects a create event with prev_events", () => {
    for (const v of ALL) {
      const room = new Room(v);
      room.rejects({ type: "m.room.create", sender: ALICE, stateKey: "", content: { creator: ALICE }, prev: ["$x"] }, "1.1", `v${v}`);
    }
  });

  it("1.2 rejects a room id on another server (v1–v11)", () => {
    for (const v of range(1, 11)) {
      const ev = makeEvent({ id: "$c", type: "m.room.create", sender: BOB, stateKey: "", content: { creator: BOB }, roomId: "!room:a.org", roomVersion: v });
      assert.throws(() => checkAuth(ev, () => undefined, rulesOf(v)), /^AuthError: 1\.2:/, `v${v}`);
    }
  });

  it("1.2 rejects a v12 create event that carries a room_id, and allows one without", () => {
    const r = rulesOf("12");
    const withRoomId = makeEvent({ id: "$c", type: "m.room.create", sender: ALICE, stateKey: "", content: {}, roomId: "!c", roomVersion: "12" });
    assert.throws(() => checkAuth(withRoomId, () => undefined, r), /^AuthError: 1\.2: .*room_id/);
    // …but does not care about the room id's domain, which v12 ids lack.
    const room = new Room("12", {}, BOB);
    assert.doesNotThrow(() => checkAuth(room.create, () => undefined, r));
  });

  it("1.3 rejects an unknown room_version and accepts a missing one", () => {
    for (const v of ALL) {
      const room = new Room(v);
      room.rejects({ type: "m.room.create", sender: ALICE, stateKey: "", content: { creator: ALICE, room_version: "999" } }, "1.3", `v${v}`);
      room.rejects({ type: "m.room.create", sender: ALICE, stateKey: "", content: { creator: ALICE, room_version: 1 } }, "1.3", `v${v}`);
      room.allows({ type: "m.room.create", sender: ALICE, stateKey: "", content: { creator: ALICE } }, `v${v}`);
    }
  });

  it("1.4 requires content.creator in v1–v10 only", () => {
    for (const v of ALL) {
      const room = new Room(v);
      const spec = { type: "m.room.create", sender: ALICE, stateKey: "", content: { room_version: v } };
      if (Number(v) <= 10) room.rejects(spec, "1.4", `v${v}`);
      else room.allows(spec, `v${v}`);
    }
  });

  it("1.4 (v12) validates additional_creators; v11 ignores them", () => {
    const bad: JsonObject[] = [
      { additional_creators: "@bob:b.org" },
      { additional_creators: [BOB, 3] },
      { additional_creators: ["bob"] },
      { additional_creators: ["@bob"] },
      { additional_creators: null },
    ];
    for (const content of bad) {
      new Room("12").rejects({ type: "m.room.create", sender: ALICE, stateKey: "", content }, "1.4", JSON.stringify(content));
      new Room("11").allows({ type: "m.room.create", sender: ALICE, stateKey: "", content }, JSON.stringify(content));
    }
    new Room("12").allows({ type: "m.room.create", sender: ALICE, stateKey: "", content: { additional_creators: [BOB, CAROL] } });
    new Room("12").allows({ type: "m.room.create", sender: ALICE, stateKey: "", content: { additional_creators: [] } });
  });
});

describe("authEventTypes", () => {
  const pairs = (type: string, sk: string | undefined, sender: string, content: JsonObject, v: string): string[] =>
    authEventTypes(type, sk, sender, content, rulesOf(v)).map(([t, k]) => `${t}|${k}`);

  it("selects nothing for a create event", () => {
    for (const v of ALL) assert.deepEqual(pairs("m.room.create", "", ALICE, {}, v), []);
  });

  it("selects create (not in v12), power levels and the sender's member for other events", () => {
    for (const v of ALL) {
      const want = ["m.room.power_levels|", `m.room.member|${BOB}`];
      if (v !== "12") want.unshift("m.room.create|");
      assert.deepEqual(pairs("m.room.message", undefined, BOB, {}, v), want, `v${v}`);
    }
  });

  it("adds the target's member and join rules for joins, invites and knocks, not for leaves or bans", () => {
    const v = "10";
    assert.deepEqual(pairs("m.room.member", CAROL, BOB, { membership: "invite" }, v), [
      "m.room.create|", "m.room.power_levels|", `m.room.member|${BOB}`, `m.room.member|${CAROL}`, "m.room.join_rules|",
    ]);
    assert.deepEqual(pairs("m.room.member", BOB, BOB, { membership: "join" }, v), [
      "m.room.create|", "m.room.power_levels|", `m.room.member|${BOB}`, "m.room.join_rules|",
    ]);
    assert.ok(pairs("m.room.member", BOB, BOB, { membership: "knock" }, v).includes("m.room.join_rules|"));
    assert.ok(!pairs("m.room.member", CAROL, BOB, { membership: "leave" }, v).includes("m.room.join_rules|"));
    assert.ok(!pairs("m.room.member", CAROL, BOB, { membership: "ban" }, v).includes("m.room.join_rules|"));
  });

  it("adds the third-party invite named by signed.token to a 3pid invite", () => {
    const content = { membership: "invite", third_party_invite: { display_name: "c", signed: { mxid: CAROL, token: "tok", signatures: {} } } };
    assert.ok(pairs("m.room.member", CAROL, BOB, content, "3").includes("m.room.third_party_invite|tok"));
    assert.ok(!pairs("m.room.member", CAROL, BOB, { ...content, membership: "join" }, "3").includes("m.room.third_party_invite|tok"));
  });

  it("adds the authorising user's member to a restricted join from v8", () => {
    const content = { membership: "join", join_authorised_via_users_server: CAROL };
    for (const v of ALL) {
      const has = pairs("m.room.member", BOB, BOB, content, v).includes(`m.room.member|${CAROL}`);
      assert.equal(has, Number(v) >= 8, `v${v}`);
    }
  });
});

describe("checkAuthEvents (the auth-events rule)", () => {
  /** Alice joined, Bob joined, power levels; the event is Bob's message. */
  function setup(v: string) {
    const room = basicRoom(v).member(BOB, "join");
    const s = room.lookup();
    const get = (t: string, k: string): RoomEvent => {
      const e = s(t, k);
      assert.ok(e);
      return e;
    };
    const auth = [get("m.room.power_levels", ""), get("m.room.member", BOB)];
    if (!room.rules.roomIdFromCreateEvent) auth.unshift(room.create);
    const message = (events: RoomEvent[], extra: Partial<Spec> = {}) =>
      room.ev({ ...msg(BOB), auth: events.map((e) => e.eventId), ...extra });
    const opts = { createEvent: room.create };
    return { room, get, auth, message, opts, A: rulesOf(v).roomIdFromCreateEvent ? 3 : 2 };
  }
  const throwsRule = (fn: () => unknown, rule: string, m?: string) =>
    assert.throws(fn, (e: unknown) => e instanceof AuthError && e.message.startsWith(`${rule}:`), m);

  it("returns a lookup over the auth events that checkAuth accepts", () => {
    for (const v of ALL) {
      const { room, auth, message, opts } = setup(v);
      const ev = message(auth);
      const lookup = checkAuthEvents(ev, auth, room.rules, opts);
      assert.equal(lookup("m.room.member", BOB)?.content.membership, "join");
      assert.equal(lookup("m.room.create", "")?.eventId, "$create", `v${v}: the create event is answered`);
      assert.equal(lookup("m.room.join_rules", ""), undefined);
      assert.doesNotThrow(() => checkAuth(ev, lookup, room.rules));
    }
  });

  it("x.1 rejects two auth events for the same (type, state_key), or the same id twice", () => {
    for (const v of ALL) {
      const { room, auth, message, opts, A } = setup(v);
      const other = room.ev({ type: "m.room.member", sender: BOB, stateKey: BOB, content: { membership: "join" } });
      throwsRule(() => checkAuthEvents(message([...auth, other]), [...auth, other], room.rules, opts), `${A}.1`, `v${v}`);
      const twice = message(auth, { auth: [...auth.map((e) => e.eventId), auth[0]!.eventId] });
      throwsRule(() => checkAuthEvents(twice, auth, room.rules, opts), `${A}.1`, `v${v}`);
    }
  });

  it("x.2 rejects an auth event the selection does not pick for this event", () => {
    for (const v of ALL) {
      const { room, get, auth, message, opts, A } = setup(v);
      const jr = get("m.room.join_rules", "");
      throwsRule(() => checkAuthEvents(message([...auth, jr]), [...auth, jr], room.rules, opts), `${A}.2`, `v${v}`);
      // The same join rules are fine for a join.
      const join = room.ev({ ...membership(BOB, BOB, "join", { displayname: "B" }), auth: [...auth, jr].map((e) => e.eventId) });
      assert.doesNotThrow(() => checkAuthEvents(join, [...auth, jr], room.rules, opts), `v${v}`);
      // A message event can never be an auth event.
      const m = room.ev({ ...msg(BOB), id: "$m" });
      throwsRule(() => checkAuthEvents(message([...auth, m]), [...auth, m], room.rules, opts), `${A}.2`, `v${v}`);
    }
  });

  it("x.2 (v12) rejects the create event among the auth events", () => {
    const { room, auth, message, opts } = setup("12");
    const ev = message([room.create, ...auth]);
    assert.throws(() => checkAuthEvents(ev, [room.create, ...auth], room.rules, opts), /^AuthError: 3\.2: m\.room\.create must not/);
  });

  it("x.3 rejects when an auth event was itself rejected", () => {
    for (const v of ALL) {
      const { room, get, auth, message, opts, A } = setup(v);
      const plId = get("m.room.power_levels", "").eventId;
      const isRejected = (id: string) => id === plId;
      throwsRule(() => checkAuthEvents(message(auth), auth, room.rules, { ...opts, isRejected }), `${A}.3`, `v${v}`);
    }
  });

  it("x.4 rejects auth events without a create event (v1–v11)", () => {
    for (const v of range(1, 11)) {
      const { room, auth, message } = setup(v);
      const noCreate = auth.slice(1);
      throwsRule(() => checkAuthEvents(message(noCreate), noCreate, room.rules), "2.4", `v${v}`);
    }
  });

  it("x.5 rejects an auth event from another room", () => {
    for (const v of ALL) {
      const { room, auth, message, opts, A } = setup(v);
      const foreign = makeEvent({ id: "$foreign", type: "m.room.power_levels", sender: ALICE, stateKey: "", roomId: "!other:a.org", roomVersion: v });
      const set = [...auth.filter((e) => e.type !== "m.room.power_levels"), foreign];
      throwsRule(() => checkAuthEvents(message(set), set, room.rules, opts), `${A}.5`, `v${v}`);
    }
  });

  it("rejects when a listed auth event is not supplied, and refuses unlisted ones", () => {
    const { room, auth, message, A } = setup("10");
    throwsRule(() => checkAuthEvents(message(auth), auth.slice(0, 2), room.rules), `${A}`);
    throwsRule(() => checkAuthEvents(message(auth.slice(0, 2)), auth, room.rules), `${A}`);
  });

  it("rule 2 (v12): the room id must be the id of the supplied, accepted create event", () => {
    const { room, auth, message, opts } = setup("12");
    assert.throws(() => checkAuthEvents(message(auth), auth, room.rules), /^AuthError: 2: .*not supplied/);
    const isRejected = (id: string) => id === "$create";
    assert.throws(() => checkAuthEvents(message(auth), auth, room.rules, { ...opts, isRejected }), /^AuthError: 2: .*rejected/);
    const elsewhere = makeEvent({ ...msg(BOB), id: "$x", roomId: "!other", roomVersion: "12", auth: auth.map((e) => e.eventId) });
    assert.throws(() => checkAuthEvents(elsewhere, auth, room.rules, opts), /^AuthError: 2: /);
  });

  it("ignores auth events for a create event", () => {
    const room = new Room("10");
    assert.equal(checkAuthEvents(room.create, [], room.rules)("m.room.create", ""), undefined);
  });
});

describe("checkAuth needs the create event", () => {
  it("rejects without a create event in the state (2.4; v12: 2)", () => {
    for (const v of ALL) {
      const room = basicRoom(v).member(BOB, "join");
      const s = room.lookup();
      const noCreate: StateLookup = (t, k) => (t === "m.room.create" ? undefined : s(t, k));
      const rule = v === "12" ? "2" : "2.4";
      assert.throws(() => checkAuth(room.ev(msg(BOB)), noCreate, room.rules), new RegExp(`^AuthError: ${rule.replace(".", "\\.")}:`), `v${v}`);
    }
  });

  it("rule 2 (v12) rejects an event whose room id is not the create event's", () => {
    const room = basicRoom("12").member(BOB, "join");
    const ev = makeEvent({ ...msg(BOB), id: "$x", roomId: "!somewhere", roomVersion: "12" });
    assert.throws(() => checkAuth(ev, room.lookup(), room.rules), /^AuthError: 2: /);
    room.allows(msg(BOB));
  });
});

describe("m.federate", () => {
  it("rejects senders from other servers when m.federate is false, in every version", () => {
    for (const v of ALL) {
      const fed = (x: JsonObject) => new Room(v, x).member(ALICE, "join").joinRule("public").member(BOB, "join");
      const rule = String(v === "12" ? 4 : 3);
      fed({ "m.federate": false }).rejects(msg(BOB), rule, `v${v}`);
      fed({ "m.federate": false }).rejects(membership(CAROL, CAROL, "join"), rule, `v${v}`);
      fed({ "m.federate": false }).allows(msg(ALICE), `v${v}`);
      fed({ "m.federate": false }).allows(membership("@al2:a.org", "@al2:a.org", "join"), `v${v}`);
      fed({ "m.federate": true }).allows(msg(BOB), `v${v}`);
      fed({}).allows(msg(BOB), `v${v}`);
    }
  });
});

describe("m.room.aliases (v1–v5 rule 4)", () => {
  it("lets a server set its own aliases without being in the room in v1–v5, not from v6", () => {
    for (const v of ALL) {
      const room = basicRoom(v);
      const spec = { type: "m.room.aliases", sender: BOB, stateKey: "b.org", content: { aliases: ["#x:b.org"] } };
      if (Number(v) <= 5) room.allows(spec, `v${v}`);
      else room.rejects(spec, String(laterRule(v, "joined")), `v${v}`);
    }
  });

  it("4.1/4.2 reject a missing state_key or another server's state_key (v1–v5)", () => {
    for (const v of range(1, 5)) {
      const room = basicRoom(v).member(BOB, "join");
      room.rejects({ type: "m.room.aliases", sender: BOB, content: { aliases: [] } }, "4.1", `v${v}`);
      room.rejects({ type: "m.room.aliases", sender: BOB, stateKey: "a.org", content: { aliases: [] } }, "4.2", `v${v}`);
    }
  });

  it("treats m.room.aliases as ordinary state from v6", () => {
    const room = basicRoom("6", "invite", { state_default: 50 }).member(BOB, "join");
    room.rejects({ type: "m.room.aliases", sender: BOB, stateKey: "b.org", content: {} }, "7");
    room.allows({ type: "m.room.aliases", sender: ALICE, stateKey: "b.org", content: {} });
  });
});

describe("m.room.member: basics", () => {
  it("x.1 rejects a member event without state_key or membership", () => {
    for (const v of ALL) {
      const room = basicRoom(v, "public");
      const r = memberRule(v).member;
      room.rejects({ type: "m.room.member", sender: BOB, content: { membership: "join" } }, `${r}.1`, `v${v}`);
      room.rejects({ type: "m.room.member", sender: BOB, stateKey: BOB, content: {} }, `${r}.1`, `v${v}`);
    }
  });

  it("rejects an unknown membership", () => {
    for (const v of ALL) {
      const room = basicRoom(v, "public");
      room.rejects(membership(BOB, BOB, "wave"), memberRule(v).unknown, `v${v}`);
      room.rejects(membership(BOB, BOB, 5 as unknown as string), memberRule(v).unknown, `v${v}`);
    }
  });
});

describe("m.room.member: join", () => {
  it("x.1 allows the creator's join right after the create event", () => {
    for (const v of ALL) {
      const room = new Room(v);
      room.allows({ ...membership(ALICE, ALICE, "join"), prev: ["$create"] }, `v${v}`);
      // Not when something else came first or alongside: no join rule, so reject.
      room.rejects({ ...membership(ALICE, ALICE, "join"), prev: ["$create", "$other"] }, joinOtherwise(v), `v${v}`);
      room.rejects({ ...membership(BOB, BOB, "join"), prev: ["$create"] }, joinOtherwise(v), `v${v}`);
    }
  });

  it("treats a room without m.room.join_rules as invite-only, as Synapse does", () => {
    for (const v of ALL) {
      const room = new Room(v).member(ALICE, "join");
      // A joined member may send a new join (a profile change); nobody else may join.
      room.allows(membership(ALICE, ALICE, "join", { displayname: "Alice" }), `v${v}`);
      room.rejects(membership(BOB, BOB, "join"), joinOtherwise(v), `v${v}`);
      room.member(BOB, "invite", ALICE);
      room.allows(membership(BOB, BOB, "join"), `v${v}`);
    }
  });

  it("x.1 uses content.creator in v10 and the create sender from v11", () => {
    for (const v of ["10", "11", "12"]) {
      const room = new Room(v, { creator: CAROL });
      const carol = { ...membership(CAROL, CAROL, "join"), prev: ["$create"] };
      const alice = { ...membership(ALICE, ALICE, "join"), prev: ["$create"] };
      if (v === "10") {
        room.allows(carol, `v${v}`);
        room.rejects(alice, joinOtherwise(v), `v${v}`);
      } else {
        room.allows(alice, `v${v}`);
        room.rejects(carol, joinOtherwise(v), `v${v}`);
      }
    }
  });

  it("x.1 (v12) is for the create sender only, not additional creators", () => {
    const room = new Room("12", { additional_creators: [BOB] });
    room.rejects({ ...membership(BOB, BOB, "join"), prev: ["$create"] }, "5.3.7");
  });

  it("x.2 rejects joining on someone else's behalf", () => {
    for (const v of ALL) {
      basicRoom(v, "public").rejects(membership(ALICE, BOB, "join"), `${memberRule(v).join}.2`, `v${v}`);
    }
  });

  it("x.2 is numbered 5.3.2 in v12", () => {
    assert.throws(() => basicRoom("12", "public").check(membership(ALICE, BOB, "join")), /^AuthError: 5\.3\.2: sender does not match state_key$/);
  });

  it("x.3 rejects a banned user", () => {
    for (const v of ALL) {
      basicRoom(v, "public").member(BOB, "ban", ALICE).rejects(membership(BOB, BOB, "join"), `${memberRule(v).join}.3`, `v${v}`);
    }
  });

  it("x.4 invite rule: allows invited or joined users only", () => {
    for (const v of ALL) {
      basicRoom(v, "invite").member(BOB, "invite", ALICE).allows(membership(BOB, BOB, "join"), `v${v}`);
      basicRoom(v, "invite").member(BOB, "join").allows(membership(BOB, BOB, "join", { displayname: "B" }), `v${v}`);
      basicRoom(v, "invite").rejects(membership(BOB, BOB, "join"), joinOtherwise(v), `v${v}`);
      basicRoom(v, "invite").member(BOB, "leave").rejects(membership(BOB, BOB, "join"), joinOtherwise(v), `v${v}`);
    }
  });

  it("x.4 knock rule lets invited users join from v7, not in v6", () => {
    for (const v of ["6", "7"]) {
      const room = basicRoom(v, "knock").member(BOB, "invite", ALICE);
      if (v === "6") room.rejects(membership(BOB, BOB, "join"), joinOtherwise(v));
      else room.allows(membership(BOB, BOB, "join"));
    }
  });

  it("public rule allows anyone; private and missing rules allow no one", () => {
    for (const v of ALL) {
      basicRoom(v, "public").allows(membership(BOB, BOB, "join"), `v${v}`);
      basicRoom(v, "private").rejects(membership(BOB, BOB, "join"), joinOtherwise(v), `v${v}`);
      new Room(v).member(ALICE, "join").powerLevels().rejects(membership(BOB, BOB, "join"), joinOtherwise(v), `v${v}`);
    }
  });

  describe("restricted joins", () => {
    const restrictedRoom = (v: string, rule: string, pl: JsonObject = {}) =>
      basicRoom(v, rule, pl).member(CAROL, "join");
    const via = (user: string) => membership(BOB, BOB, "join", { join_authorised_via_users_server: user });

    it("restricted: rejected in v7, allowed via a joined member who can invite from v8", () => {
      for (const v of ["7", "8", "9", "10", "11", "12"]) {
        const room = restrictedRoom(v, "restricted");
        if (v === "7") room.rejects(via(CAROL), joinOtherwise(v));
        else room.allows(via(CAROL), `v${v}`);
      }
    });

    it("knock_restricted: rejected in v9, allowed from v10", () => {
      for (const v of ["8", "9", "10", "11", "12"]) {
        const room = restrictedRoom(v, "knock_restricted");
        if (Number(v) <= 9) room.rejects(via(CAROL), joinOtherwise(v), `v${v}`);
        else room.allows(via(CAROL), `v${v}`);
      }
    });

    it("x.5.1 lets an invited or joined user in without an authoriser", () => {
      for (const v of range(8, 12)) {
        restrictedRoom(v, "restricted").member(BOB, "invite", ALICE).allows(membership(BOB, BOB, "join"), `v${v}`);
        restrictedRoom(v, "restricted").member(BOB, "join").allows(membership(BOB, BOB, "join"), `v${v}`);
      }
    });

    it("x.5.2 rejects a missing, unjoined or under-powered authoriser", () => {
      for (const v of range(8, 12)) {
        const rule = `${memberRule(v).join}.5.2`;
        for (const jr of v === "8" || v === "9" ? ["restricted"] : ["restricted", "knock_restricted"]) {
          restrictedRoom(v, jr).rejects(membership(BOB, BOB, "join"), rule, `v${v} ${jr} missing`);
          restrictedRoom(v, jr).rejects(via(DAVE), rule, `v${v} ${jr} not a member`);
          restrictedRoom(v, jr).member(DAVE, "invite", ALICE).rejects(via(DAVE), rule, `v${v} ${jr} only invited`);
          restrictedRoom(v, jr, { invite: 50 }).rejects(via(CAROL), rule, `v${v} ${jr} below invite level`);
          restrictedRoom(v, jr, { invite: 50, users: { [CAROL]: 50 } }).allows(via(CAROL), `v${v} ${jr} at invite level`);
        }
      }
    });

    it("x.5.2 (v12) a creator can always authorise", () => {
      restrictedRoom("12", "restricted", { invite: 100 }).allows(via(ALICE));
    });
  });
});

describe("m.room.member: invite", () => {
  it("allows a joined member at the invite level", () => {
    for (const v of ALL) basicRoom(v).allows(membership(ALICE, BOB, "invite"), `v${v}`);
  });

  it("x.2 rejects an inviter who is not joined", () => {
    for (const v of ALL) {
      basicRoom(v).rejects(membership(CAROL, BOB, "invite"), `${memberRule(v).invite}.2`, `v${v}`);
      basicRoom(v).member(CAROL, "invite", ALICE).rejects(membership(CAROL, BOB, "invite"), `${memberRule(v).invite}.2`, `v${v}`);
    }
  });

  it("x.3 rejects inviting a joined or banned user", () => {
    for (const v of ALL) {
      basicRoom(v).member(BOB, "join").rejects(membership(ALICE, BOB, "invite"), `${memberRule(v).invite}.3`, `v${v}`);
      basicRoom(v).member(BOB, "ban", ALICE).rejects(membership(ALICE, BOB, "invite"), `${memberRule(v).invite}.3`, `v${v}`);
      basicRoom(v).member(BOB, "leave").allows(membership(ALICE, BOB, "invite"), `v${v}`);
    }
  });

  it("x.5 rejects an inviter below the invite level", () => {
    for (const v of ALL) {
      const room = basicRoom(v, "invite", { invite: 10 }).member(CAROL, "join");
      room.rejects(membership(CAROL, BOB, "invite"), `${memberRule(v).invite}.5`, `v${v}`);
    }
  });
});

describe("m.room.member: third-party invite", () => {
  const keys = nacl.sign.keyPair.fromSeed(new Uint8Array(32).fill(7));
  const b64 = (b: Uint8Array): string => Buffer.from(b).toString("base64").replace(/=+$/, "");
  const urlsafe = (s: string): string => s.replace(/\+/g, "-").replace(/\//g, "_");

  /** Signs like an identity server: canonical JSON of the block without `signatures`. */
  function signed(mxid: string, token: string, secretKey = keys.secretKey): JsonObject {
    const body = { mxid, token };
    const canonical = JSON.stringify(body, Object.keys(body).sort());
    const sig = nacl.sign.detached(Buffer.from(canonical, "utf8"), secretKey);
    return { ...body, signatures: { "id.example": { "ed25519:0": b64(sig) } } };
  }

  function tpiRoom(v: string, inviteContent: JsonObject = { public_key: b64(keys.publicKey) }): Room {
    return basicRoomWithInvite(v, inviteContent, ALICE);
  }
  function basicRoomWithInvite(v: string, inviteContent: JsonObject, inviteSender: string): Room {
    const room = basicRoom(v).member(BOB, "join");
    room.put({
      type: "m.room.third_party_invite",
      sender: inviteSender,
      stateKey: "tok",
      content: { display_name: "c…@example.com", key_validity_url: "https://id.example/valid", ...inviteContent },
    });
    return room;
  }
  const invite = (sender: string, target: string, s: JsonObject | undefined): Spec =>
    membership(sender, target, "invite", { third_party_invite: s === undefined ? { display_name: "c" } : { display_name: "c", signed: s } });

  it("x.7 allows an invite whose signed block verifies with the invite's public_key", () => {
    for (const v of ALL) tpiRoom(v).allows(invite(ALICE, CAROL, signed(CAROL, "tok")), `v${v}`);
  });

  it("x.7 accepts a key from public_keys, in the URL-safe alphabet", () => {
    const content = { public_key: b64(nacl.sign.keyPair().publicKey), public_keys: [{ public_key: urlsafe(b64(keys.publicKey)) }] };
    for (const v of ["1", "12"]) tpiRoom(v, content).allows(invite(ALICE, CAROL, signed(CAROL, "tok")), `v${v}`);
  });

  it("does not need the inviter to be joined (the member rule returns first)", () => {
    // Bob sent the m.room.third_party_invite while joined and has since left.
    const room = basicRoomWithInvite("10", { public_key: b64(keys.publicKey) }, BOB).member(BOB, "leave");
    room.allows(invite(BOB, CAROL, signed(CAROL, "tok")));
  });

  it("x.1–x.8 reject each broken part", () => {
    for (const v of ALL) {
      const T = `${memberRule(v).invite}.1`;
      tpiRoom(v).member(CAROL, "ban", ALICE).rejects(invite(ALICE, CAROL, signed(CAROL, "tok")), `${T}.1`, `v${v} banned`);
      tpiRoom(v).rejects(invite(ALICE, CAROL, undefined), `${T}.2`, `v${v} no signed`);
      tpiRoom(v).rejects(membership(ALICE, CAROL, "invite", { third_party_invite: null }), `${T}.2`, `v${v} null`);
      tpiRoom(v).rejects(invite(ALICE, CAROL, { token: "tok", signatures: {} }), `${T}.3`, `v${v} no mxid`);
      tpiRoom(v).rejects(invite(ALICE, CAROL, { mxid: CAROL, signatures: {} }), `${T}.3`, `v${v} no token`);
      tpiRoom(v).rejects(invite(ALICE, CAROL, signed(DAVE, "tok")), `${T}.4`, `v${v} mxid`);
      tpiRoom(v).rejects(invite(ALICE, CAROL, signed(CAROL, "other")), `${T}.5`, `v${v} token`);
      tpiRoom(v).rejects(invite(BOB, CAROL, signed(CAROL, "tok")), `${T}.6`, `v${v} sender`);
      const stranger = nacl.sign.keyPair();
      tpiRoom(v).rejects(invite(ALICE, CAROL, signed(CAROL, "tok", stranger.secretKey)), `${T}.8`, `v${v} wrong key`);
      const tampered = { ...signed(CAROL, "tok"), mxid: DAVE };
      tpiRoom(v).rejects(invite(ALICE, DAVE, tampered), `${T}.8`, `v${v} tampered`);
      tpiRoom(v, {}).rejects(invite(ALICE, CAROL, signed(CAROL, "tok")), `${T}.8`, `v${v} revoked (no keys)`);
      tpiRoom(v, { public_key: "!!!" }).rejects(invite(ALICE, CAROL, signed(CAROL, "tok")), `${T}.8`, `v${v} bad key`);
    }
  });
});

describe("m.room.member: leave and kick", () => {
  it("x.1 lets invited and joined users leave, and knockers from v7", () => {
    for (const v of ALL) {
      const L = `${memberRule(v).leave}.1`;
      basicRoom(v).member(BOB, "join").allows(membership(BOB, BOB, "leave"), `v${v}`);
      basicRoom(v).member(BOB, "invite", ALICE).allows(membership(BOB, BOB, "leave"), `v${v}`);
      basicRoom(v).rejects(membership(BOB, BOB, "leave"), L, `v${v} never here`);
      basicRoom(v).member(BOB, "leave").rejects(membership(BOB, BOB, "leave"), L, `v${v} already left`);
      basicRoom(v).member(BOB, "ban", ALICE).rejects(membership(BOB, BOB, "leave"), L, `v${v} banned`);
      const knocked = basicRoom(v, "knock").member(BOB, "knock");
      if (Number(v) >= 7) knocked.allows(membership(BOB, BOB, "leave"), `v${v} retract knock`);
      else knocked.rejects(membership(BOB, BOB, "leave"), L, `v${v} knock is not a membership`);
    }
  });

  it("x.2 rejects a kick by a non-member", () => {
    for (const v of ALL) {
      basicRoom(v, "invite", { users: { [CAROL]: 100 } }).member(BOB, "join").rejects(membership(CAROL, BOB, "leave"), `${memberRule(v).leave}.2`, `v${v}`);
    }
  });

  it("x.3 rejects an unban below the ban level; x.4 allows one at both levels", () => {
    for (const v of ALL) {
      const room = (pl: JsonObject) => basicRoom(v, "invite", pl).member(CAROL, "join").member(BOB, "ban", ALICE);
      room({ kick: 10, ban: 60, users: { [CAROL]: 50 } }).rejects(membership(CAROL, BOB, "leave"), `${memberRule(v).leave}.3`, `v${v}`);
      room({ kick: 10, ban: 50, users: { [CAROL]: 50 } }).allows(membership(CAROL, BOB, "leave"), `v${v}`);
    }
  });

  it("x.4/x.5 allows a kick only at the kick level and above the target", () => {
    for (const v of ALL) {
      const L5 = `${memberRule(v).leave}.5`;
      const room = (pl: JsonObject) => basicRoom(v, "invite", pl).member(CAROL, "join").member(BOB, "join");
      room({ users: { [CAROL]: 50 } }).allows(membership(CAROL, BOB, "leave"), `v${v}`);
      room({ users: { [CAROL]: 40 } }).rejects(membership(CAROL, BOB, "leave"), L5, `v${v} below kick`);
      room({ users: { [CAROL]: 50, [BOB]: 50 } }).rejects(membership(CAROL, BOB, "leave"), L5, `v${v} equal`);
      room({ users: { [CAROL]: 50 } }).rejects(membership(CAROL, ALICE, "leave"), L5, `v${v} kicking the creator`);
    }
  });
});

describe("m.room.member: ban", () => {
  it("x.1 rejects a ban by a non-member", () => {
    for (const v of ALL) basicRoom(v, "invite", { users: { [CAROL]: 100 } }).rejects(membership(CAROL, BOB, "ban"), `${memberRule(v).ban}.1`, `v${v}`);
  });

  it("x.2/x.3 needs the ban level and more power than the target", () => {
    for (const v of ALL) {
      const B3 = `${memberRule(v).ban}.3`;
      const room = (pl: JsonObject) => basicRoom(v, "invite", pl).member(CAROL, "join");
      room({ users: { [CAROL]: 50 } }).allows(membership(CAROL, BOB, "ban"), `v${v} (target need not be in the room)`);
      room({ users: { [CAROL]: 49 } }).rejects(membership(CAROL, BOB, "ban"), B3, `v${v}`);
      room({ users: { [CAROL]: 50, [BOB]: 50 } }).rejects(membership(CAROL, BOB, "ban"), B3, `v${v}`);
    }
  });
});

describe("m.room.member: knock", () => {
  it("is an unknown membership in v6 and allowed in a knock room from v7", () => {
    for (const v of ALL) {
      const room = basicRoom(v, "knock");
      if (Number(v) <= 6) room.rejects(membership(BOB, BOB, "knock"), memberRule(v).unknown, `v${v}`);
      else room.allows(membership(BOB, BOB, "knock"), `v${v}`);
    }
  });

  it("x.1 needs the knock join rule (or knock_restricted from v10)", () => {
    for (const v of range(7, 12)) {
      const K1 = `${memberRule(v).knock}.1`;
      basicRoom(v, "public").rejects(membership(BOB, BOB, "knock"), K1, `v${v}`);
      basicRoom(v, "invite").rejects(membership(BOB, BOB, "knock"), K1, `v${v}`);
      const kr = basicRoom(v, "knock_restricted");
      if (Number(v) >= 10) kr.allows(membership(BOB, BOB, "knock"), `v${v}`);
      else kr.rejects(membership(BOB, BOB, "knock"), K1, `v${v}`);
    }
  });

  it("x.2 rejects knocking for someone else; x.4 rejects banned, invited or joined users", () => {
    for (const v of range(7, 12)) {
      const K = memberRule(v).knock;
      basicRoom(v, "knock").rejects(membership(ALICE, BOB, "knock"), `${K}.2`, `v${v}`);
      for (const m of ["ban", "invite", "join"]) {
        basicRoom(v, "knock").member(BOB, m, ALICE).rejects(membership(BOB, BOB, "knock"), `${K}.4`, `v${v} ${m}`);
      }
      basicRoom(v, "knock").member(BOB, "leave").allows(membership(BOB, BOB, "knock"), `v${v}`);
      basicRoom(v, "knock").member(BOB, "knock").allows(membership(BOB, BOB, "knock"), `v${v}`);
    }
  });
});

describe("non-member events", () => {
  it("rejects events from users who are not joined", () => {
    for (const v of ALL) {
      const J = String(laterRule(v, "joined"));
      basicRoom(v).rejects(msg(BOB), J, `v${v}`);
      basicRoom(v).member(BOB, "invite", ALICE).rejects(msg(BOB), J, `v${v}`);
      basicRoom(v).member(BOB, "join").allows(msg(BOB), `v${v}`);
    }
  });

  it("m.room.third_party_invite needs the invite level", () => {
    for (const v of ALL) {
      const tpi = { type: "m.room.third_party_invite", sender: BOB, stateKey: "tok", content: { display_name: "x" } };
      basicRoom(v, "invite", { invite: 10 }).member(BOB, "join").rejects(tpi, `${laterRule(v, "tpi")}.1`, `v${v}`);
      // The invite level, not state_default, governs it.
      basicRoom(v, "invite", { invite: 0, state_default: 100 }).member(BOB, "join").allows(tpi, `v${v}`);
    }
  });

  it("rejects an event below its required power level", () => {
    for (const v of ALL) {
      const R = String(laterRule(v, "required"));
      const room = (pl: JsonObject) => basicRoom(v, "invite", pl).member(BOB, "join");
      room({ events: { "m.room.message": 10 } }).rejects(msg(BOB), R, `v${v}`);
      room({ events_default: 10 }).rejects(msg(BOB), R, `v${v}`);
      room({}).rejects({ type: "m.room.topic", sender: BOB, stateKey: "", content: { topic: "t" } }, R, `v${v} state_default 50`);
      room({ events: { "m.room.topic": 0 } }).allows({ type: "m.room.topic", sender: BOB, stateKey: "", content: { topic: "t" } }, `v${v}`);
    }
  });

  it("state_default is 50 even without a power-levels event", () => {
    for (const v of ALL) {
      const room = new Room(v).member(ALICE, "join").joinRule("public").member(BOB, "join");
      room.rejects({ type: "m.room.topic", sender: BOB, stateKey: "", content: {} }, String(laterRule(v, "required")), `v${v}`);
      room.allows({ type: "m.room.topic", sender: ALICE, stateKey: "", content: {} }, `v${v} creator at 100`);
      room.allows(msg(BOB), `v${v} events_default 0`);
    }
  });

  it("rejects a state key that is another user's id", () => {
    for (const v of ALL) {
      const room = basicRoom(v, "invite", { state_default: 0 }).member(BOB, "join");
      room.rejects({ type: "m.custom", sender: BOB, stateKey: ALICE, content: {} }, String(laterRule(v, "atKey")), `v${v}`);
      room.allows({ type: "m.custom", sender: BOB, stateKey: BOB, content: {} }, `v${v}`);
      room.allows({ type: "m.custom", sender: BOB, stateKey: "x@y", content: {} }, `v${v}`);
    }
  });

  it("otherwise allows", () => {
    for (const v of ALL) basicRoom(v).member(BOB, "join").allows({ type: "m.reaction", sender: BOB, content: {} }, `v${v}`);
  });
});

describe("m.room.redaction", () => {
  // v1–v2 ids carry the origin server, which is what the rule compares.
  const redaction = (sender: string, id: string, redacts: string): Spec => ({ id, type: "m.room.redaction", sender, redacts, content: {} });

  it("v1–v2 need the redact level or the redacted event's server; v3+ leave that to redaction handling", () => {
    for (const v of ALL) {
      const room = basicRoom(v).member(BOB, "join");
      const other = redaction(BOB, "$r:b.org", "$target:a.org");
      if (Number(v) <= 2) room.rejects(other, `${laterRule(v, "redaction")}.3`, `v${v}`);
      else room.allows(other, `v${v}`);
      room.allows(redaction(BOB, "$r2:b.org", "$target:b.org"), `v${v} same server`);
      room.allows(redaction(ALICE, "$r3:a.org", "$target:b.org"), `v${v} redact level`);
    }
  });

  it("is still subject to the events level from v3", () => {
    for (const v of ALL) {
      basicRoom(v, "invite", { events: { "m.room.redaction": 10 } }).member(BOB, "join")
        .rejects(redaction(BOB, "$r:b.org", "$t:b.org"), String(laterRule(v, "required")), `v${v}`);
    }
  });
});

describe("m.room.power_levels", () => {
  const pl = (sender: string, content: JsonObject): Spec => ({ type: "m.room.power_levels", sender, stateKey: "", content });
  const P = (v: string) => laterRule(v, "pl");
  /** The users-validity sub-rule: x.1 before v10, x.3 from v10. */
  const usersRule = (v: string) => `${P(v)}.${Number(v) >= 10 ? 3 : 1}`;
  /** Sub-rules after the validity checks shift by 2 in v10–v11 and by 3 in v12. */
  const sub = (v: string, n: number) => `${P(v)}.${n + (v === "12" ? 3 : Number(v) >= 10 ? 2 : 0)}`;
  /** Bob is joined at 50, Carol at 50, Dave joined at 0. */
  const room = (v: string, content: JsonObject = {}) =>
    basicRoom(v, "invite", { users: { [BOB]: 50, [CAROL]: 50 }, ...content }).member(BOB, "join").member(CAROL, "join").member(DAVE, "join");
  /** Bob's new content: the same users plus `change`. */
  const bobSets = (v: string, change: JsonObject, users: JsonObject = {}) =>
    pl(BOB, { users: { ...(v === "12" ? {} : { [ALICE]: 100 }), [BOB]: 50, [CAROL]: 50, ...users }, ...change });

  it("allows the first power-levels event (no previous one)", () => {
    for (const v of ALL) {
      const r = new Room(v).member(ALICE, "join");
      r.allows(pl(ALICE, { users: v === "12" ? { [BOB]: 100 } : { [ALICE]: 100, [BOB]: 100 }, ban: 0, kick: 100 }), `v${v}`);
    }
  });

  it("users: rejects invalid user ids and non-object users", () => {
    for (const v of ALL) {
      room(v).rejects(bobSets(v, {}, { "not-a-user": 0 }), usersRule(v), `v${v}`);
      room(v).rejects(pl(BOB, { users: [] }), usersRule(v), `v${v}`);
      room(v).rejects(pl(BOB, { users: 5 }), usersRule(v), `v${v}`);
    }
  });

  it("users: stringy levels are accepted in v9 and rejected in v10", () => {
    for (const v of ALL) {
      const spec = bobSets(v, {}, { [DAVE]: "10" });
      if (Number(v) <= 9) room(v).allows(spec, `v${v}`);
      else room(v).rejects(spec, usersRule(v), `v${v}`);
      room(v).rejects(bobSets(v, {}, { [DAVE]: "ten" }), usersRule(v), `v${v}`);
    }
  });

  it("users: float levels are accepted (and truncated) in v5, rejected from v6", () => {
    for (const v of ALL) {
      const spec = bobSets(v, {}, { [DAVE]: 10.5 });
      if (Number(v) <= 5) room(v).allows(spec, `v${v}`);
      else room(v).rejects(spec, usersRule(v), `v${v}`);
    }
  });

  it("v1–v5 reject a level outside the range of a double", () => {
    for (const v of range(1, 5)) room(v).rejects(bobSets(v, { ban: JSON.parse("1e400") as number }), String(P(v)), `v${v}`);
  });

  it("top-level levels: stringy accepted in v9, x.1 rejects them from v10", () => {
    for (const v of ALL) {
      const spec = bobSets(v, { ban: "50" });
      if (Number(v) <= 9) room(v).allows(spec, `v${v}`);
      else room(v).rejects(spec, `${P(v)}.1`, `v${v}`);
    }
    room("10").rejects(bobSets("10", { kick: null }), "9.1");
    room("10").rejects(bobSets("10", { kick: 1.5 }), "9.1");
  });

  it("events/notifications: stringy accepted in v9, x.2 rejects them from v10", () => {
    for (const v of ALL) {
      const changes: JsonObject[] = [{ events: { "m.room.name": "10" } }, { notifications: { room: "10" } }];
      for (const change of changes) {
        const spec = bobSets(v, change);
        if (Number(v) <= 9) room(v).allows(spec, `v${v} ${JSON.stringify(change)}`);
        else room(v).rejects(spec, `${P(v)}.2`, `v${v} ${JSON.stringify(change)}`);
      }
    }
    room("11").rejects(bobSets("11", { events: [] }), "9.2");
    room("11").rejects(bobSets("11", { notifications: 50 }), "9.2");
  });

  it("top-level changes: the current and the new value must be within the sender's level", () => {
    for (const v of ALL) {
      room(v).allows(bobSets(v, { ban: 40 }), `v${v} lower own-level key`);
      room(v).allows(bobSets(v, { ban: 50 }), `v${v} keep at own level`);
      room(v).rejects(bobSets(v, { invite: 60 }), `${sub(v, 3)}.2`, `v${v} raise above self`);
      room(v, { kick: 100 }).rejects(bobSets(v, { kick: 0 }), `${sub(v, 3)}.1`, `v${v} lower a key above self`);
      room(v, { kick: 100 }).rejects(bobSets(v, {}), `${sub(v, 3)}.1`, `v${v} removing counts as a change`);
      room(v, { kick: 100 }).allows(bobSets(v, { kick: 100 }), `v${v} unchanged`);
    }
  });

  it("events: removing or changing an entry above the sender, or adding one above them, is rejected", () => {
    for (const v of ALL) {
      const base = { events: { "m.room.name": 75 } };
      room(v, base).rejects(bobSets(v, { events: {} }), `${sub(v, 4)}.1`, `v${v} remove`);
      room(v, base).rejects(bobSets(v, { events: { "m.room.name": 40 } }), `${sub(v, 4)}.1`, `v${v} change`);
      room(v).rejects(bobSets(v, { events: { "m.room.topic": 60 } }), `${sub(v, 5)}.1`, `v${v} add above`);
      room(v).allows(bobSets(v, { events: { "m.room.topic": 40 } }), `v${v} add within`);
      room(v, base).allows(bobSets(v, base), `v${v} unchanged`);
    }
  });

  it("notifications: unchecked in v5, checked from v6", () => {
    for (const v of ALL) {
      const base = { notifications: { room: 75 } };
      const lower = bobSets(v, { notifications: { room: 10 } });
      const raise = bobSets(v, { notifications: { room: 75 } });
      if (Number(v) <= 5) {
        room(v, base).allows(lower, `v${v}`);
        room(v).allows(raise, `v${v}`);
      } else {
        room(v, base).rejects(lower, `${sub(v, 4)}.1`, `v${v}`);
        room(v).rejects(raise, `${sub(v, 5)}.1`, `v${v}`);
      }
    }
  });

  it("users: may not change someone at or above the sender, except themself", () => {
    for (const v of ALL) {
      room(v).rejects(bobSets(v, {}, { [CAROL]: 10 }), `${sub(v, 6)}.1`, `v${v} demote an equal`);
      const noCarol = bobSets(v, {});
      delete (noCarol.content!.users as JsonObject)[CAROL];
      room(v).rejects(noCarol, `${sub(v, 6)}.1`, `v${v} remove an equal`);
      room(v).allows(bobSets(v, {}, { [BOB]: 10 }), `v${v} demote self`);
      room(v).allows(bobSets(v, {}, { [DAVE]: 50 }), `v${v} promote up to own level`);
      room(v).rejects(bobSets(v, {}, { [DAVE]: 51 }), `${sub(v, 7)}.1`, `v${v} promote above self`);
      room(v).rejects(bobSets(v, {}, { [BOB]: 51 }), `${sub(v, 7)}.1`, `v${v} promote self`);
    }
  });

  it("v12: creators may not appear in users (x.4); v11 may list the creator", () => {
    const listAlice = pl(ALICE, { users: { [ALICE]: 100 } });
    new Room("11").member(ALICE, "join").powerLevels().allows(listAlice);
    new Room("12").member(ALICE, "join").powerLevels().rejects(listAlice, "10.4");
    const r = new Room("12", { additional_creators: [BOB] }).member(ALICE, "join").member(BOB, "join").powerLevels();
    r.rejects(pl(ALICE, { users: { [BOB]: 0 } }), "10.4");
    r.rejects(pl(ALICE, { users: { [BOB]: 100 } }), "10.4");
    // Also for the very first power-levels event.
    new Room("12").member(ALICE, "join").rejects(listAlice, "10.4");
  });
});

describe("v12 creators have infinite power", () => {
  /** Alice created the room with Bob as an additional creator; Carol is at the highest integer. */
  const room = () =>
    new Room("12", { additional_creators: [BOB] })
      .member(ALICE, "join")
      .member(BOB, "join")
      .powerLevels({ users: { [CAROL]: 2 ** 53 - 1 }, kick: 2 ** 53 - 1, ban: 2 ** 53 - 1, state_default: 2 ** 53 - 1 })
      .member(CAROL, "join")
      .member(DAVE, "join");

  it("lets any creator do what no level can reach", () => {
    room().allows(membership(BOB, CAROL, "ban"));
    room().allows(membership(BOB, CAROL, "leave"));
    room().allows({ type: "m.room.name", sender: BOB, stateKey: "", content: { name: "n" } });
    room().allows({ type: "m.room.power_levels", sender: BOB, stateKey: "", content: { users: { [CAROL]: 0 } } });
  });

  it("keeps every other user from touching a creator", () => {
    room().rejects(membership(CAROL, BOB, "ban"), "5.6.3");
    room().rejects(membership(CAROL, ALICE, "leave"), "5.5.5");
    // Creators cannot act on each other either: infinity is not below infinity.
    room().rejects(membership(ALICE, BOB, "ban"), "5.6.3");
  });

  it("is not granted to anyone in v11 (the creator has only what power_levels says)", () => {
    const r = new Room("11")
      .member(ALICE, "join")
      .powerLevels({ users: { [ALICE]: 10, [CAROL]: 50 } })
      .member(CAROL, "join");
    r.allows(membership(CAROL, ALICE, "ban"));
    r.rejects(membership(ALICE, CAROL, "ban"), "4.6.3");
  });
});

describe("rule numbering across versions", () => {
  it("names 'sender does not match state_key' by each version's number", () => {
    const want: Record<string, string> = { "1": "5.2.2", "5": "5.2.2", "6": "4.2.2", "7": "4.2.2", "8": "4.3.2", "11": "4.3.2", "12": "5.3.2" };
    for (const [v, rule] of Object.entries(want)) {
      assert.throws(() => basicRoom(v, "public").check(membership(ALICE, BOB, "join")), (e: unknown) => e instanceof AuthError && e.message === `${rule}: sender does not match state_key`, `v${v}`);
    }
  });
});
