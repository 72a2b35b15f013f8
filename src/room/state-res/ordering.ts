/**
 * The two orderings of state resolution v2: the reverse topological power
 * ordering (for power events and their conflicted auth ancestry) and the
 * mainline ordering (for everything else).
 */
import { creators, parsePowerLevels, userLevelIn, type PowerLevels } from "../power-levels.js";
import type { RoomEvent } from "../types.js";
import type { RoomVersionRules } from "../versions.js";
import type { Events } from "./events.js";

/** Plain code-unit comparison: the spec orders ids as strings, not by locale. */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---------------------------------------------------------------------------
// Sender power "when looking at their respective auth_events"

/**
 * The power level of each event's sender as its own auth events describe the
 * room: the power-levels event it cites (if any) and the room's create event
 * (for the creator default, and v12's infinitely powerful creators). Parsed
 * power levels are cached per power-levels event, since many events cite the
 * same one.
 */
export class SenderPower {
  private readonly parsed = new Map<string, PowerLevels>();
  private readonly creatorsOf = new Map<string, readonly string[]>();
  private readonly noPowerLevels: PowerLevels;

  constructor(
    private readonly events: Events,
    private readonly rules: RoomVersionRules,
  ) {
    this.noPowerLevels = parsePowerLevels(undefined, rules);
  }

  of(ev: RoomEvent): number {
    const create = this.events.createEventFor(ev, this.rules);
    let roomCreators: readonly string[] = [];
    if (create !== undefined) {
      let c = this.creatorsOf.get(create.eventId);
      if (c === undefined) {
        c = creators(create, this.rules);
        this.creatorsOf.set(create.eventId, c);
      }
      roomCreators = c;
    }
    if (this.rules.privilegedCreators && roomCreators.includes(ev.sender)) return Infinity;
    const plEvent = this.events.powerLevelsAuthEvent(ev);
    let pl = this.noPowerLevels;
    if (plEvent !== undefined) {
      const cached = this.parsed.get(plEvent.eventId);
      pl = cached ?? parsePowerLevels(plEvent.content, this.rules);
      if (cached === undefined) this.parsed.set(plEvent.eventId, pl);
    }
    return userLevelIn(pl, ev.sender, roomCreators);
  }
}

// ---------------------------------------------------------------------------
// A small binary min-heap, so Kahn's algorithm picks the smallest ready event
// in O(log n) instead of rescanning the candidates at every step.

class MinHeap<T> {
  private readonly items: T[] = [];
  constructor(private readonly less: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  push(item: T): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(a[i], a[parent])) break;
      [a[i], a[parent]] = [a[parent], a[i]];
      i = parent;
    }
  }

  pop(): T | undefined {
    const a = this.items;
    if (a.length === 0) return undefined;
    const top = a[0];
    const last = a.pop() as T;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l], a[m])) m = l;
        if (r < a.length && this.less(a[r], a[m])) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
}

// ---------------------------------------------------------------------------
// Reverse topological power ordering

interface PowerKey {
  readonly ev: RoomEvent;
  readonly power: number;
}

/** x < y: greater sender power, then smaller origin_server_ts, then smaller event_id. */
function powerLess(x: PowerKey, y: PowerKey): boolean {
  if (x.power !== y.power) return x.power > y.power;
  if (x.ev.originServerTs !== y.ev.originServerTs) return x.ev.originServerTs < y.ev.originServerTs;
  return x.ev.eventId < y.ev.eventId;
}

/**
 * The lexicographically smallest topological ordering of `eventIds` under
 * the auth-events DAG, earliest first: Kahn's algorithm, taking at each
 * step the smallest ready event by `powerLess`.
 *
 * The DAG is the one auth_events induce on the set itself: an edge for each
 * auth event that is also in the set. Ancestry that passes through events
 * outside the set is not followed; the spec speaks of "the DAG formed by
 * auth events" over the set, and in v2.1 the conflicted state subgraph puts
 * the in-between events of conflicted events into the set anyway.
 */
export function reverseTopologicalPowerOrder(
  eventIds: Iterable<string>,
  events: Events,
  power: SenderPower,
): RoomEvent[] {
  const ids = new Set(eventIds);
  const blockers = new Map<string, number>();
  const dependants = new Map<string, string[]>();
  const heap = new MinHeap<PowerKey>(powerLess);
  const keys = new Map<string, PowerKey>();

  for (const id of ids) {
    const ev = events.get(id, "event to order");
    keys.set(id, { ev, power: power.of(ev) });
    // An event cited twice in auth_events is still one edge.
    const parents = new Set(ev.authEventIds.filter((a) => ids.has(a)));
    blockers.set(id, parents.size);
    for (const p of parents) {
      const d = dependants.get(p);
      if (d === undefined) dependants.set(p, [id]);
      else d.push(id);
    }
  }
  for (const [id, n] of blockers) if (n === 0) heap.push(keys.get(id) as PowerKey);

  const out: RoomEvent[] = [];
  for (let next = heap.pop(); next !== undefined; next = heap.pop()) {
    out.push(next.ev);
    for (const child of dependants.get(next.ev.eventId) ?? []) {
      const left = (blockers.get(child) as number) - 1;
      blockers.set(child, left);
      if (left === 0) heap.push(keys.get(child) as PowerKey);
    }
  }
  if (out.length !== ids.size) {
    // Only possible with a cycle in auth_events, which hashing makes impossible
    // for real events: refuse rather than silently drop events.
    throw new Error("state resolution: auth_events among the events to order contain a cycle");
  }
  return out;
}

// ---------------------------------------------------------------------------
// Mainline ordering

/**
 * Mainline positions relative to one power-levels event P: P has index 0, the
 * power-levels event P cites has 1, and so on. An event's position is the
 * index of the first power-levels event on its own chain of cited
 * power-levels events (not counting itself) that lies on the mainline, or
 * Infinity if none does. Positions are memoised per power-levels event, so
 * ordering many events costs one walk per distinct chain.
 */
export class Mainline {
  private readonly index = new Map<string, number>();
  /** position of a power-levels event p *as a member of some event's chain*:
   * its mainline index, or that of the first mainline event above it. */
  private readonly memo = new Map<string, number>();

  constructor(
    powerLevelsEventId: string | undefined,
    private readonly events: Events,
  ) {
    let p = powerLevelsEventId === undefined ? undefined : events.get(powerLevelsEventId, "mainline");
    for (let i = 0; p !== undefined; i++) {
      if (this.index.has(p.eventId)) break; // defensive: a cycle cannot come from hashed events
      this.index.set(p.eventId, i);
      p = events.powerLevelsAuthEvent(p);
    }
  }

  /** The mainline as [P0, P1, …] (for tests and diagnostics). */
  get ids(): string[] {
    return [...this.index.keys()];
  }

  position(ev: RoomEvent): number {
    // Walk up the cited power-levels events until one is on the mainline or
    // already has a known position; then fill the memo for the walked path.
    const path: string[] = [];
    let p = this.events.powerLevelsAuthEvent(ev);
    let found = Infinity;
    while (p !== undefined) {
      const onMainline = this.index.get(p.eventId);
      if (onMainline !== undefined) {
        found = onMainline;
        break;
      }
      const known = this.memo.get(p.eventId);
      if (known !== undefined) {
        found = known;
        break;
      }
      path.push(p.eventId);
      p = this.events.powerLevelsAuthEvent(p);
    }
    for (const id of path) this.memo.set(id, found);
    return found;
  }
}

/**
 * Sorts events by the mainline ordering based on `mainline`: greater
 * position first (based on an earlier mainline event), then smaller
 * origin_server_ts, then smaller event_id.
 */
export function mainlineOrder(evs: Iterable<RoomEvent>, mainline: Mainline): RoomEvent[] {
  const keyed = [...evs].map((ev) => ({ ev, pos: mainline.position(ev) }));
  keyed.sort((x, y) => {
    if (x.pos !== y.pos) return x.pos > y.pos ? -1 : 1;
    if (x.ev.originServerTs !== y.ev.originServerTs) return x.ev.originServerTs - y.ev.originServerTs;
    return compareIds(x.ev.eventId, y.ev.eventId);
  });
  return keyed.map((k) => k.ev);
}
