/**
 * The state of a room at a point in its DAG, read from stored snapshots
 * and, where branches meet, resolved with the room version's algorithm.
 */
import type { Knex } from "knex";
import { resolveState } from "../room/state-res/index.js";
import type { RoomEvent, StateLookup, StateMap } from "../room/types.js";
import { stateKey } from "../room/types.js";
import type { RoomVersionRules } from "../room/versions.js";
import type { EventStore } from "../storage/event-store.js";
import type { StateStore } from "../storage/state-store.js";

export interface ResolvedState {
  readonly state: StateMap;
  /** The stored snapshot equal to `state`, when there is one. */
  readonly snapshot: number | null;
  /** A stored snapshot close to `state`, to store `state` as a delta of. */
  readonly nearest: { id: number; state: StateMap } | null;
}

export const EMPTY_STATE: ResolvedState = { state: new Map(), snapshot: null, nearest: null };

export class RoomStateReader {
  constructor(
    private readonly events: EventStore,
    private readonly states: StateStore,
  ) {}

  /** The state after each of `eventIds`, resolved together: the state before a child of them all. */
  async stateAfter(rules: RoomVersionRules, eventIds: readonly string[], trx?: Knex): Promise<ResolvedState> {
    if (eventIds.length === 0) return EMPTY_STATE;
    const stored = await this.events.getEvents(eventIds, trx);
    const snapshots = new Set<number>();
    for (const id of eventIds) {
      const s = stored.get(id);
      if (!s) throw new Error(`state after unknown event ${id}`);
      if (s.stateSnapshot === null) throw new Error(`no state stored at event ${id}`);
      snapshots.add(s.stateSnapshot);
    }
    const ids = [...snapshots];
    const sets = await Promise.all(ids.map((id) => this.states.getSnapshot(id, trx)));
    if (sets.length === 1) return { state: sets[0], snapshot: ids[0], nearest: { id: ids[0], state: sets[0] } };
    const stateEventIds = new Set<string>();
    for (const set of sets) for (const id of set.values()) stateEventIds.add(id);
    const loaded = await this.events.loadWithAuthChains(stateEventIds, trx);
    const resolved = resolveState(rules, sets, (id) => loaded.get(id)?.event);
    return { state: resolved, snapshot: null, nearest: { id: ids[0], state: sets[0] } };
  }

  /**
   * The state before an event, from those of its prev events we hold with
   * state. Empty when we hold none: the first event we have of a room we
   * joined over federation has prev events we never saw.
   */
  async stateBefore(rules: RoomVersionRules, event: RoomEvent, trx?: Knex): Promise<StateMap> {
    const held = await this.events.getEvents(event.prevEventIds, trx);
    const placed = event.prevEventIds.filter((id) => held.get(id)?.stateSnapshot != null);
    return placed.length ? (await this.stateAfter(rules, placed, trx)).state : new Map();
  }

  /**
   * A lookup over just the state entries the auth rules may read for an
   * event with these auth types: loading a handful of events, not the room.
   */
  async authLookup(state: StateMap, types: Array<[string, string]>, trx?: Knex): Promise<StateLookup> {
    const ids = types.map(([t, k]) => state.get(stateKey(t, k))).filter((id): id is string => id !== undefined);
    const loaded = await this.events.getEvents(ids, trx);
    const byKey = new Map<string, RoomEvent>();
    for (const s of loaded.values()) {
      if (s.event.stateKey !== undefined) byKey.set(stateKey(s.event.type, s.event.stateKey), s.event);
    }
    return (type, key) => byKey.get(stateKey(type, key));
  }
}
