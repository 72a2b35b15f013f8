/**
 * State resolution v2 / v2.1. Every expected result below is derived by hand
 * from the algorithm in the spec; the comments walk through the derivation.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { authChain, MissingEventError, resolveState } from "../../../src/room/state-res/index.js";
import { Events } from "../../../src/room/state-res/events.js";
import { authStateFor } from "../../../src/room/state-res/iterative.js";
import { Mainline, SenderPower, mainlineOrder, reverseTopologicalPowerOrder } from "../../../src/room/state-res/ordering.js";
import { authDifference, conflictedSubgraph, isPowerEvent, splitConflicted } from "../../../src/room/state-res/v2.js";
import { stateKey, type JsonObject, type RoomEvent, type StateMap } from "../../../src/room/types.js";
import type { RoomVersionRules } from "../../../src/room/versions.js";
import { ALICE, BOB, CAROL, DAVE, RoomDag, rulesFor, stateIds } from "../../support/dag.js";
import { makeEvent } from "../../support/events.js";

const V11 = rulesFor("11");
const V12 = rulesFor("12");
/** v11 with only the state resolution algorithm switched: isolates v2.1's effect. */
const V11_WITH_V21: RoomVersionRules = { ...V11, stateResolution: "v2.1" };

const K = {
  create: stateKey("m.room.create", ""),
  pl: stateKey("m.room.power_levels", ""),
  jr: stateKey("m.room.join_rules", ""),
  topic: stateKey("m.room.topic", ""),
  name: stateKey("m.room.name", ""),
  member: (u: string) => stateKey("m.room.member", u),
};

function resolve(dag: RoomDag, ...sets: StateMap[]): StateMap {
  return resolveState(dag.rules, sets, dag.lookup);
}

/** A small DAG without auth checks, for the building blocks: id -> auth ids. */
function graph(spec: Record<string, { auth?: string[]; sender?: string; ts?: number; type?: string; stateKey?: string; content?: JsonObject }>) {
  const m = new Map<string, RoomEvent>();
  for (const [id, s] of Object.entries(spec)) {
    m.set(id, makeEvent({
      id,
      type: s.type ?? "m.room.topic",
      stateKey: s.stateKey ?? "",
      sender: s.sender ?? ALICE,
      auth: s.auth ?? [],
      ts: s.ts ?? 0,
      content: s.content ?? {},
    }));
  }
  return { map: m, events: new Events((id) => m.get(id)) };
}

// ---------------------------------------------------------------------------
// Building blocks

describe("authChain", () => {
  const { map } = graph({
    a: {}, b: { auth: ["a"] }, c: { auth: ["a", "b"] }, d: { auth: ["c"] }, e: { auth: ["b"] },
  });
  const lookup = (id: string) => map.get(id);

  it("collects every auth ancestor, excluding the starting events", () => {
    assert.deepEqual([...authChain(["d"], lookup)].sort(), ["a", "b", "c"]);
    assert.deepEqual([...authChain(["d", "e"], lookup)].sort(), ["a", "b", "c"]);
  });

  it("includes a starting event that is an ancestor of another", () => {
    assert.deepEqual([...authChain(["c", "d"], lookup)].sort(), ["a", "b", "c"]);
  });

  it("is empty for the root", () => {
    assert.equal(authChain(["a"], lookup).size, 0);
  });

  it("throws a clear error when the lookup misses an event of the chain", () => {
    const partial = (id: string) => (id === "a" ? undefined : map.get(id));
    assert.throws(() => authChain(["c"], partial), (err: unknown) => err instanceof MissingEventError && err.eventId === "a");
  });
});

describe("splitConflicted / authDifference", () => {
  //   a <- b <- c (state set 1 holds c)
  //   a <- b <- d (state set 2 holds d)
  //   u is in both sets and cites a.
  const { events } = graph({
    a: {}, b: { auth: ["a"] }, c: { auth: ["b"] }, x: { auth: ["a"] }, d: { auth: ["x"] }, u: { auth: ["a"], stateKey: "u" },
  });
  const s1 = new Map([["k", "c"], ["u", "u"]]);
  const s2 = new Map([["k", "d"], ["u", "u"]]);

  it("splits keys with one shared value from everything else", () => {
    const { unconflicted, conflicted } = splitConflicted([s1, s2, new Map([["k", "c"], ["u", "u"], ["only", "z"]])]);
    assert.deepEqual([...unconflicted], [["u", "u"]]);
    assert.deepEqual([...conflicted].sort(), ["c", "d", "z"]);
  });

  it("is the union minus the intersection of the full auth chains", () => {
    // C1 = {a, b}; C2 = {a, x}: difference {b, x}.
    assert.deepEqual([...authDifference([s1, s2], events)].sort(), ["b", "x"]);
  });

  it("is empty for identical sets", () => {
    assert.equal(authDifference([s1, new Map(s1)], events).size, 0);
  });

  it("counts an unconflicted event cited by only one side's conflicted events", () => {
    // Set 1's conflicted c2 cites u; set 2's d does not: u is in C1 only.
    const g = graph({ a: {}, u: { auth: ["a"], stateKey: "u" }, c2: { auth: ["u"] }, d: { auth: ["a"] } });
    const t1 = new Map([["k", "c2"], ["u", "u"]]);
    const t2 = new Map([["k", "d"], ["u", "u"]]);
    assert.deepEqual([...authDifference([t1, t2], g.events)], ["u"]);
  });
});

describe("conflictedSubgraph", () => {
  //  p0 <- p1 <- p2     (p0 and p2 conflicted; p1 lies between them)
  //  p0 <- q            (q hangs off p0 but leads to no conflicted event... it is below p0 only)
  //  root <- p0, root <- p3 (p3 conflicted, unrelated to the others)
  const { events } = graph({
    root: {}, p0: { auth: ["root"] }, p1: { auth: ["p0"] }, p2: { auth: ["p1", "root"] }, q: { auth: ["p0"] }, p3: { auth: ["root"] },
  });

  it("contains the events on auth paths between conflicted events, endpoints included", () => {
    const sub = conflictedSubgraph(new Set(["p0", "p2", "p3"]), events);
    assert.deepEqual([...sub].sort(), ["p0", "p1", "p2"]);
  });

  it("is empty when no conflicted event reaches another", () => {
    assert.equal(conflictedSubgraph(new Set(["p2", "p3"]), events).size, 0);
  });
});

describe("isPowerEvent", () => {
  const ev = (type: string, sender: string, sk: string, membership?: string) =>
    makeEvent({ id: "$e", type, sender, stateKey: sk, content: membership ? { membership } : {} });
  it("is true for power levels, join rules, kicks and bans", () => {
    assert.ok(isPowerEvent(ev("m.room.power_levels", ALICE, "")));
    assert.ok(isPowerEvent(ev("m.room.join_rules", ALICE, "")));
    assert.ok(isPowerEvent(ev("m.room.member", ALICE, BOB, "leave")));
    assert.ok(isPowerEvent(ev("m.room.member", ALICE, BOB, "ban")));
  });
  it("is false for leaving yourself, joins, invites and other state", () => {
    assert.ok(!isPowerEvent(ev("m.room.member", BOB, BOB, "leave")));
    assert.ok(!isPowerEvent(ev("m.room.member", BOB, BOB, "ban")));
    assert.ok(!isPowerEvent(ev("m.room.member", ALICE, BOB, "invite")));
    assert.ok(!isPowerEvent(ev("m.room.member", BOB, BOB, "join")));
    assert.ok(!isPowerEvent(ev("m.room.topic", ALICE, "")));
  });
});

describe("reverse topological power ordering (Kahn)", () => {
  // create <- pl (alice 100, bob 50, carol 50)
  // Five events citing create and pl, so all are ready together once pl is out:
  //   hiA: alice (100), ts 50   hiB: alice (100), ts 10
  //   mid1/mid2: bob (50), same ts 20, ids decide
  //   low: dave (0), ts 1
  //   after: cites hiB, so it must follow hiB even though it is older than everything.
  const pl: JsonObject = { users: { [ALICE]: 100, [BOB]: 50, [CAROL]: 50 } };
  const { events } = graph({
    create: { type: "m.room.create", sender: ALICE, content: { creator: ALICE } },
    pl: { type: "m.room.power_levels", auth: ["create"], ts: 5, content: pl },
    hiA: { auth: ["create", "pl"], sender: ALICE, ts: 50 },
    hiB: { auth: ["create", "pl"], sender: ALICE, ts: 10 },
    mid2: { auth: ["create", "pl"], sender: BOB, ts: 20 },
    mid1: { auth: ["create", "pl"], sender: CAROL, ts: 20 },
    low: { auth: ["create", "pl"], sender: DAVE, ts: 1 },
    after: { auth: ["create", "pl", "hiB"], sender: DAVE, ts: 0 },
  });
  const order = (ids: string[], rules = rulesFor("10")) =>
    reverseTopologicalPowerOrder(ids, events, new SenderPower(events, rules)).map((e) => e.eventId);

  it("puts auth ancestors first and breaks ties by power, then ts, then id", () => {
    assert.deepEqual(
      order(["low", "mid1", "after", "hiA", "pl", "mid2", "hiB", "create"]),
      // after (power 0, ts 0) becomes ready once hiB is out and then beats
      // low (power 0, ts 1) on ts, though it could not precede hiB.
      ["create", "pl", "hiB", "hiA", "mid1", "mid2", "after", "low"],
    );
  });

  it("reads the sender's power from the event's own auth events", () => {
    // Without pl in their auth events, everyone but the creator has 0, and the
    // creator 100 (no power levels event: creator default).
    const g = graph({
      create: { type: "m.room.create", sender: ALICE, content: { creator: ALICE } },
      x: { auth: ["create"], sender: BOB, ts: 1 },
      y: { auth: ["create"], sender: ALICE, ts: 2 },
    });
    const out = reverseTopologicalPowerOrder(["x", "y"], g.events, new SenderPower(g.events, rulesFor("10")));
    assert.deepEqual(out.map((e) => e.eventId), ["y", "x"]);
  });

  it("uses only auth edges inside the set being ordered", () => {
    // after's only ancestor in the set is gone, so it competes on its own keys (power 0, ts 0).
    assert.deepEqual(order(["after", "low"]), ["after", "low"]);
  });
});

describe("mainline ordering", () => {
  //  pl0 <- pl1 <- pl2           (the mainline of pl2 is [pl2, pl1, pl0])
  //  pl0 <- plX (off the mainline) <- plY (off, cites plX)
  const { events } = graph({
    pl0: { type: "m.room.power_levels" },
    pl1: { type: "m.room.power_levels", auth: ["pl0"] },
    pl2: { type: "m.room.power_levels", auth: ["pl1"] },
    plX: { type: "m.room.power_levels", auth: ["pl0"] },
    plY: { type: "m.room.power_levels", auth: ["plX"] },
    onPl2: { auth: ["pl2"], ts: 1 },
    onPl1: { auth: ["pl1"], ts: 1 },
    onPlY: { auth: ["plY"], ts: 1 },
    none: { ts: 9 },
    tieB: { auth: ["pl1"], ts: 5 },
    tieA: { auth: ["pl1"], ts: 5 },
    tieEarly: { auth: ["pl1"], ts: 4 },
  });
  const ml = new Mainline("pl2", events);
  const pos = (id: string) => ml.position(events.get(id));

  it("follows cited power levels from P", () => {
    assert.deepEqual(ml.ids, ["pl2", "pl1", "pl0"]);
  });

  it("positions an event by the first mainline event on its power-levels chain", () => {
    assert.equal(pos("onPl2"), 0);
    assert.equal(pos("onPl1"), 1);
    // plY -> plX -> pl0: the first of them on the mainline is pl0.
    assert.equal(pos("onPlY"), 2);
    // The event itself does not count: pl1 cites pl0.
    assert.equal(pos("pl1"), 2);
    assert.equal(pos("none"), Infinity);
  });

  it("orders greater positions first, then by ts, then by id", () => {
    const ids = ["onPl2", "tieB", "none", "onPlY", "tieA", "tieEarly", "onPl1"];
    const sorted = mainlineOrder(ids.map((id) => events.get(id)), ml).map((e) => e.eventId);
    assert.deepEqual(sorted, ["none", "onPlY", "onPl1", "tieEarly", "tieA", "tieB", "onPl2"]);
  });

  it("gives every event position Infinity without a power-levels event", () => {
    const empty = new Mainline(undefined, events);
    assert.equal(empty.position(events.get("onPl2")), Infinity);
  });
});

// ---------------------------------------------------------------------------
// Scenarios

describe("trivial inputs", () => {
  const dag = new RoomDag(V11);
  const s = dag.start({ [BOB]: 50 });
  dag.member(s, "$bob-join", BOB, "join");

  it("no state sets resolve to the empty state", () => {
    assert.equal(resolveState(V11, [], dag.lookup).size, 0);
  });

  it("a single state set resolves to itself", () => {
    assert.deepEqual(stateIds(resolve(dag, s.state)), stateIds(s.state));
  });

  it("identical state sets resolve to themselves, without looking any event up", () => {
    const out = resolveState(V11, [s.state, new Map(s.state), new Map(s.state)], () => undefined);
    assert.deepEqual(stateIds(out), stateIds(s.state));
  });

  it("throws MissingEventError when a conflicted event cannot be looked up", () => {
    const other = dag.fork(s);
    dag.topic(other, "$t", ALICE, "x");
    assert.throws(() => resolveState(V11, [s.state, other.state], (id) => (id === "$t" ? undefined : dag.lookup(id))), MissingEventError);
  });
});

for (const rules of [V11, V12]) {
  describe(`v${rules.id} (${rules.stateResolution}) scenarios`, () => {
    it("a ban racing a power-level change: the ban wins", () => {
      // Alice (admin) and Bob (moderator, 50) are in the room. Concurrently:
      //   A: Alice bans Bob.
      //   B: Bob changes the power levels (makes Carol a moderator).
      // Conflicted: Bob's membership {ban, bob-join} and PL {pl0, plB}. The auth
      // difference is empty (both sides' chains hold pl0 and bob-join), so the
      // full conflicted set is {ban, bob-join, pl0, plB}. Power events: ban,
      // pl0, plB, plus bob-join from the ban's auth chain. Kahn: pl0, then
      // bob-join, then ban before plB (Alice's power 100/∞ > Bob's 50 in
      // their auth events' pl0). Replaying: the ban passes, and then Bob, no
      // longer joined, may not send plB. Result: Bob banned, pl0 in force.
      const dag = new RoomDag(rules);
      const base = dag.start({ [BOB]: 50 });
      dag.member(base, "$bob-join", BOB, "join");
      const a = dag.fork(base);
      const b = dag.fork(base);
      dag.member(a, "$ban", BOB, "ban", ALICE);
      dag.powerLevels(b, "$plB", BOB, { ...dag.creatorEntry(), [BOB]: 50, [CAROL]: 50 });

      const out = resolve(dag, a.state, b.state);
      assert.equal(out.get(K.member(BOB)), "$ban");
      assert.equal(out.get(K.pl), "$pl0");
      // The unconflicted state passes through unchanged.
      assert.equal(out.get(K.create), "$create");
      assert.equal(out.get(K.member(ALICE)), "$alice-join");
      assert.equal(out.get(K.jr), "$jr0");
      assert.equal(out.size, 5);
      // Order of the inputs does not matter.
      assert.deepEqual(stateIds(resolve(dag, b.state, a.state)), stateIds(out));
    });

    it("a topic reset after a ban: the banned user's concurrent topic does not survive", () => {
      // Alice set topic t0. Concurrently A: Alice bans Bob; B: Bob (50, may set
      // the topic) sets t1, later than everything on A. Power events: the ban
      // (with bob-join from its auth chain) -> Bob is banned in the partial
      // state. The topics are ordered by mainline: both cite pl0 (position 0),
      // so by ts: t0 then t1. t0 passes; t1 fails because Bob is not joined.
      const dag = new RoomDag(rules);
      const base = dag.start({ [BOB]: 50 });
      dag.member(base, "$bob-join", BOB, "join");
      dag.topic(base, "$t0", ALICE, "welcome");
      const a = dag.fork(base);
      const b = dag.fork(base);
      dag.member(a, "$ban", BOB, "ban", ALICE);
      dag.topic(b, "$t1", BOB, "bob was here");

      const out = resolve(dag, a.state, b.state);
      assert.equal(out.get(K.member(BOB)), "$ban");
      assert.equal(out.get(K.topic), "$t0");

      // Control: without the ban, t1 (the later topic) wins.
      const c = dag.fork(base);
      dag.topic(c, "$t2", ALICE, "alice's other topic", { ts: 1 });
      assert.equal(resolve(dag, c.state, b.state).get(K.topic), "$t1");
    });

    it("an unconflicted event is never re-checked, even if the resolved state would reject it", () => {
      // Bob set t1 before the fork, so t1 is unconflicted. Concurrently Alice
      // bans Bob and Bob renames the room. The rename is rejected (Bob is
      // banned) but t1 stays: step 5 restores the unconflicted state.
      const dag = new RoomDag(rules);
      const base = dag.start({ [BOB]: 50 });
      dag.member(base, "$bob-join", BOB, "join");
      dag.topic(base, "$t1", BOB, "bob's topic");
      const a = dag.fork(base);
      const b = dag.fork(base);
      dag.member(a, "$ban", BOB, "ban", ALICE);
      dag.state(b, "$name", "m.room.name", "", BOB, { name: "bob's room" });

      const out = resolve(dag, a.state, b.state);
      assert.equal(out.get(K.topic), "$t1");
      assert.equal(out.get(K.member(BOB)), "$ban");
      assert.equal(out.has(K.name), false);
    });

    it("join-rule evasion: a join via a concurrently revoked public rule does not stand", () => {
      // The room is public (jr0). Concurrently A: Alice makes it invite-only
      // (jr1); B: Carol joins via jr0. Carol's key is missing from A, so her
      // join is conflicted. Power events: jr0 and jr1 (jr0 is in the auth
      // difference as Carol's join cites it). Same sender, so ts orders them:
      // jr0, jr1; both pass and the partial state says invite. Carol's join,
      // replayed in the mainline step, fails: she is not invited.
      const dag = new RoomDag(rules);
      const base = dag.start();
      const a = dag.fork(base);
      const b = dag.fork(base);
      dag.joinRules(a, "$jr1", ALICE, "invite");
      dag.member(b, "$carol-join", CAROL, "join");

      const out = resolve(dag, a.state, b.state);
      assert.equal(out.get(K.jr), "$jr1");
      assert.equal(out.has(K.member(CAROL)), false);
    });

    it("off-mainline power levels: events are ordered by mainline position, not timestamps", () => {
      // pl0 gives Bob and Carol 50. Concurrently:
      //   A: Alice sends plA (adds Dave at 10), then topic tA - the latest event of all.
      //   B: Bob sends plB (adds Dave at 20), then Carol sets topic tB.
      // Power ordering: plA before plB (Alice outranks Bob); both pass, so the
      // partial state's PL is plB, and the mainline is [plB, pl0]. tA cites
      // plA, which is off the mainline; its position is that of pl0 (1). tB
      // cites plB (position 0). Greater position first: tA, then tB, so tB
      // wins although tA is later.
      const dag = new RoomDag(rules);
      const base = dag.start({ [BOB]: 50, [CAROL]: 50 });
      dag.member(base, "$bob-join", BOB, "join");
      dag.member(base, "$carol-join", CAROL, "join");
      const a = dag.fork(base);
      const b = dag.fork(base);
      const levels = { ...dag.creatorEntry(), [BOB]: 50, [CAROL]: 50 };
      dag.powerLevels(b, "$plB", BOB, { ...levels, [DAVE]: 20 }, { ts: 100 });
      dag.topic(b, "$tB", CAROL, "from B", { ts: 101 });
      dag.powerLevels(a, "$plA", ALICE, { ...levels, [DAVE]: 10 }, { ts: 90 });
      dag.topic(a, "$tA", ALICE, "from A", { ts: 500 });

      const out = resolve(dag, a.state, b.state);
      assert.equal(out.get(K.pl), "$plB");
      assert.equal(out.get(K.topic), "$tB");

      const events = new Events(dag.lookup);
      const mainline = new Mainline("$plB", events);
      assert.deepEqual(mainline.ids, ["$plB", "$pl0"]);
      assert.equal(mainline.position(dag.get("$tA")), 1);
      assert.equal(mainline.position(dag.get("$tB")), 0);
    });

    it("mainline ties are broken by origin_server_ts, then event_id", () => {
      // Three concurrent topics citing pl0 (same position). The last applied
      // wins: largest ts; between equal ts, the larger event id.
      const dag = new RoomDag(rules);
      const base = dag.start({ [BOB]: 50 });
      dag.member(base, "$bob-join", BOB, "join");
      const x = dag.fork(base);
      const y = dag.fork(base);
      const z = dag.fork(base);
      dag.topic(x, "$tx", ALICE, "x", { ts: 5000 });
      dag.topic(y, "$ty-b", BOB, "y", { ts: 7000 });
      dag.topic(z, "$ty-a", ALICE, "z", { ts: 7000 });
      assert.equal(resolve(dag, x.state, y.state, z.state).get(K.topic), "$ty-b");
      assert.equal(resolve(dag, x.state, z.state).get(K.topic), "$ty-a");
    });

    it("reverse topological ties: the more powerful sender's change is applied first (and so loses)", () => {
      // Alice (admin) and Bob (50) both change the join rules concurrently;
      // Bob's is *earlier*. Alice's power puts hers first in the ordering, so
      // Bob's is replayed after it and wins - power outranks timestamps.
      const dag = new RoomDag(rules);
      const base = dag.start({ [BOB]: 50 });
      dag.member(base, "$bob-join", BOB, "join");
      const a = dag.fork(base);
      const b = dag.fork(base);
      dag.joinRules(b, "$jr-bob", BOB, "invite", { ts: 10 });
      dag.joinRules(a, "$jr-alice", ALICE, "public", { ts: 20 });
      assert.equal(resolve(dag, a.state, b.state).get(K.jr), "$jr-bob");
    });
  });
}

// ---------------------------------------------------------------------------
// v2 versus v2.1

/**
 * State reset by an unconflicted leave (MSC4297's problem A, rebuilt here).
 * Alice made the room invite-only (jr1) and left. One state set is right;
 * the other was obtained from a server that gave an outdated join rule
 * (jr0). The only conflict is jr0/jr1, and both sides agree Alice left.
 *  - v2 replays the join rules on top of the unconflicted state, where Alice
 *    is not joined: both fail and the room loses its join rules.
 *  - v2.1 replays them from an empty state, falling back to each event's
 *    own auth events (Alice joined): both pass, jr1 last.
 */
function leaveScenario(rules: RoomVersionRules) {
  const dag = new RoomDag(rules);
  const s = dag.start({ [BOB]: 50 });
  dag.member(s, "$bob-join", BOB, "join");
  dag.joinRules(s, "$jr1", ALICE, "invite");
  dag.member(s, "$alice-leave", ALICE, "leave");
  const outdated = new Map(s.state);
  outdated.set(K.jr, "$jr0");
  return { dag, sets: [s.state, outdated] as StateMap[] };
}

/**
 * Problem B: a chain of power-level changes skipped by the auth difference.
 * Alice promotes Bob (pl1), Bob promotes Carol (pl2), Carol sets a topic.
 * One state set is right (pl2); the other holds the outdated pl0 but also
 * Carol's topic, whose auth chain contains pl1 and pl2. So the auth
 * difference is empty and the conflicted set is {pl0, pl2}.
 *  - v2: pl2's auth ancestor pl1 is not replayed; pl0 (Alice, higher power)
 *    comes first, and pl2 fails against it (Bob has 0): a reset to pl0.
 *  - v2.1: pl1 lies on the path pl2 -> pl1 -> pl0, so the conflicted state
 *    subgraph adds it; pl0, pl1, pl2 all pass in that order.
 */
function promotionScenario(rules: RoomVersionRules) {
  const dag = new RoomDag(rules);
  const s = dag.start();
  dag.member(s, "$bob-join", BOB, "join");
  dag.member(s, "$carol-join", CAROL, "join");
  dag.powerLevels(s, "$pl1", ALICE, { ...dag.creatorEntry(), [BOB]: 50 });
  dag.powerLevels(s, "$pl2", BOB, { ...dag.creatorEntry(), [BOB]: 50, [CAROL]: 50 });
  dag.topic(s, "$topic", CAROL, "carol's topic");
  const outdated = new Map(s.state);
  outdated.set(K.pl, "$pl0");
  return { dag, sets: [s.state, outdated] as StateMap[] };
}

describe("v2 versus v2.1", () => {
  it("an unconflicted leave resets the join rules under v2 but not under v2.1", () => {
    for (const [rules, expected] of [[V11, undefined], [V11_WITH_V21, "$jr1"], [V12, "$jr1"]] as const) {
      const { dag, sets } = leaveScenario(rules);
      const out = resolveState(rules, sets, dag.lookup);
      assert.equal(out.get(K.jr), expected, `rules ${rules.id}/${rules.stateResolution}`);
      assert.equal(out.get(K.member(ALICE)), "$alice-leave");
    }
  });

  it("a promotion chain resets under v2 but not under v2.1", () => {
    for (const [rules, expected] of [[V11, "$pl0"], [V11_WITH_V21, "$pl2"], [V12, "$pl2"]] as const) {
      const { dag, sets } = promotionScenario(rules);
      const out = resolveState(rules, sets, dag.lookup);
      assert.equal(out.get(K.pl), expected, `rules ${rules.id}/${rules.stateResolution}`);
      assert.equal(out.get(K.topic), "$topic");
    }
  });

  it("the conflicted state subgraph is what adds pl1 (and every other path from pl2 to pl0)", () => {
    const { dag, sets } = promotionScenario(V12);
    const events = new Events(dag.lookup);
    const split = splitConflicted(sets);
    assert.deepEqual([...split.conflicted].sort(), ["$pl0", "$pl2"]);
    assert.equal(authDifference(sets, events).size, 0);
    // pl2 -> pl1 -> pl0, and also pl2 -> bob-join -> pl0 and
    // pl2 -> bob-join -> jr0 -> pl0 (Bob's join cites pl0 and the join rules,
    // which cite pl0). Carol's join cites pl0 but is not below pl2.
    assert.deepEqual([...conflictedSubgraph(split.conflicted, events)].sort(), ["$bob-join", "$jr0", "$pl0", "$pl1", "$pl2"]);
  });

  it("the iterative auth checks never fall back to a rejected auth event", () => {
    // In the leave scenario under v2.1 the join rules pass only thanks to
    // Alice's join in their auth events. If that join is marked rejected,
    // the fallback is refused and both join rules fail.
    const { dag, sets } = leaveScenario(V12);
    const out = resolveState(V12, sets, dag.lookup, { isRejected: (id) => id === "$alice-join" });
    assert.equal(out.has(K.jr), false);

    const events = new Events(dag.lookup);
    const view = authStateFor(dag.get("$jr1"), new Map(), V12, events, { isRejected: (id) => id === "$alice-join" });
    assert.equal(view.has(K.member(ALICE)), false);
    // v12: the create event comes from the room id, not from auth_events.
    assert.equal(view.get(K.create)?.eventId, "$create");
  });
});

describe("v2.1 mainline without a resolved power-levels event (literal reading)", () => {
  // Power levels unconflicted (pl1 on both sides, and in both auth chains via
  // Bob's join), topics conflicted: tA cites pl0 (sent before tA's branch saw
  // pl1) with a late ts; tB cites pl1 with an early ts.
  //  - v2: the partial state starts from the unconflicted state, so P = pl1,
  //    the mainline is [pl1, pl0], tA has position 1 and tB 0: tA, then tB; tB wins.
  //  - v2.1: the partial state starts empty and no power-levels event is in
  //    the full conflicted set, so step 2 resolves no P, the mainline is
  //    empty, every position is Infinity and ts decides: tB, then tA; tA wins.
  // This follows the spec text ("the power level in the partially resolved
  // state obtained in step 2"); see the open question in the report.
  function build(rules: RoomVersionRules) {
    const dag = new RoomDag(rules);
    const base = dag.start();
    const a = dag.fork(base);
    const b = dag.fork(base);
    dag.topic(a, "$tA", ALICE, "a", { ts: 500 });
    dag.powerLevels(b, "$pl1", ALICE, { ...dag.creatorEntry(), [DAVE]: 1 });
    dag.member(b, "$bob-join", BOB, "join");
    dag.topic(b, "$tB", ALICE, "b", { ts: 100 });
    const sa = new Map(a.state);
    sa.set(K.pl, "$pl1");
    sa.set(K.member(BOB), "$bob-join");
    return { dag, sets: [sa, b.state] };
  }
  it("v2 orders by the unconflicted power levels' mainline", () => {
    const { dag, sets } = build(V11);
    assert.equal(resolveState(V11, sets, dag.lookup).get(K.topic), "$tB");
  });
  it("v2.1 has no mainline and orders by timestamp", () => {
    for (const rules of [V11_WITH_V21, V12]) {
      const { dag, sets } = build(rules);
      assert.equal(resolveState(rules, sets, dag.lookup).get(K.topic), "$tA");
    }
  });
});

describe("authStateFor", () => {
  it("prefers the partially resolved state over the event's auth events, for the keys auth needs", () => {
    const dag = new RoomDag(V11);
    const s = dag.start({ [BOB]: 50 });
    dag.member(s, "$bob-join", BOB, "join");
    const t = dag.topic(s, "$t", BOB, "t");
    const partial = new Map([[K.pl, "$pl-other"], [K.topic, "$ignored"], [K.jr, "$ignored-too"]]);
    dag.events.set("$pl-other", makeEvent({ id: "$pl-other", type: "m.room.power_levels", stateKey: "", sender: ALICE }));
    const view = authStateFor(t, partial, V11, new Events(dag.lookup));
    assert.equal(view.get(K.pl)?.eventId, "$pl-other");
    assert.equal(view.get(K.member(BOB))?.eventId, "$bob-join");
    assert.equal(view.get(K.create)?.eventId, "$create");
    // Keys the auth rules do not consult for a topic are not visible.
    assert.equal(view.has(K.topic), false);
    assert.equal(view.has(K.jr), false);
  });
});

describe("performance", () => {
  it("resolves a fork in a room of 2000 members quickly", () => {
    const dag = new RoomDag(V11);
    const base = dag.start({ [BOB]: 50 });
    dag.member(base, "$bob-join", BOB, "join");
    for (let i = 0; i < 2000; i++) dag.member(base, `$m${i}`, `@u${i}:x.org`, "join");
    const a = dag.fork(base);
    const b = dag.fork(base);
    for (let i = 0; i < 50; i++) dag.member(a, `$kick${i}`, `@u${i}:x.org`, "leave", ALICE);
    for (let i = 50; i < 100; i++) dag.topic(b, `$topic${i}`, BOB, `t${i}`);
    dag.powerLevels(b, "$plB", BOB, { [ALICE]: 100, [BOB]: 50, [CAROL]: 50 });
    const started = performance.now();
    const out = resolve(dag, a.state, b.state);
    const ms = performance.now() - started;
    assert.equal(out.get(K.member("@u0:x.org")), "$kick0");
    assert.equal(out.get(K.topic), "$topic99");
    assert.equal(out.get(K.pl), "$plB");
    assert.ok(ms < 1000, `took ${ms} ms`);
  });
});
