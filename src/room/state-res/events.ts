/**
 * Event access shared by the state resolution algorithms.
 *
 * The algorithms are pure and synchronous: the caller preloads every event
 * they may touch (the events of the state sets and their full auth chains)
 * and hands in an `EventLookup`. A missing event is a broken caller contract,
 * not an auth failure, so it throws `MissingEventError` instead of being
 * treated as "not there" — silently skipping it would make two servers
 * resolve the same states differently.
 */
import { stateKey, type EventLookup, type RoomEvent } from "../types.js";
import type { RoomVersionRules } from "../versions.js";

export const CREATE = "m.room.create";
export const POWER_LEVELS = "m.room.power_levels";
export const JOIN_RULES = "m.room.join_rules";
export const MEMBER = "m.room.member";

export const CREATE_KEY = stateKey(CREATE, "");
export const POWER_LEVELS_KEY = stateKey(POWER_LEVELS, "");
export const JOIN_RULES_KEY = stateKey(JOIN_RULES, "");

export class MissingEventError extends Error {
  constructor(
    readonly eventId: string,
    context: string,
  ) {
    super(`state resolution needs event ${eventId} (${context}) but the lookup does not have it`);
    this.name = "MissingEventError";
  }
}

/** Optional knowledge the caller has beyond the events themselves. */
export interface ResolveOptions {
  /**
   * Whether an event was rejected. The iterative auth checks never fall back
   * to a rejected auth event (spec: "if the auth event is not rejected").
   * Without it every auth event is taken as accepted, which is right when the
   * caller only stores accepted events in auth chains.
   */
  readonly isRejected?: (eventId: string) => boolean;
}

/**
 * A lookup that throws on a miss and remembers what it fetched, so the
 * many passes over the same auth events cost one caller lookup each.
 */
export class Events {
  private readonly cache = new Map<string, RoomEvent>();
  private readonly plAuth = new Map<string, string | null>();

  constructor(private readonly lookup: EventLookup) {}

  get(eventId: string, context = "referenced"): RoomEvent {
    let ev = this.cache.get(eventId);
    if (ev === undefined) {
      ev = this.lookup(eventId);
      if (ev === undefined) throw new MissingEventError(eventId, context);
      this.cache.set(eventId, ev);
    }
    return ev;
  }

  /** The m.room.power_levels event among `ev`'s auth events, if it cites one. */
  powerLevelsAuthEvent(ev: RoomEvent): RoomEvent | undefined {
    const known = this.plAuth.get(ev.eventId);
    if (known !== undefined) return known === null ? undefined : this.get(known);
    let found: RoomEvent | undefined;
    for (const id of ev.authEventIds) {
      const a = this.get(id, `auth event of ${ev.eventId}`);
      if (a.type === POWER_LEVELS && a.stateKey === "") {
        found = a;
        break;
      }
    }
    this.plAuth.set(ev.eventId, found === undefined ? null : found.eventId);
    return found;
  }

  /**
   * The room's m.room.create event as `ev`'s auth rules see it. Up to v11 it
   * is cited in auth_events; from v12 it is never cited and its id is the
   * room id with the `$` sigil instead of `!`.
   */
  createEventFor(ev: RoomEvent, rules: RoomVersionRules): RoomEvent | undefined {
    if (ev.type === CREATE) return ev;
    if (rules.roomIdFromCreateEvent) {
      return this.get("$" + ev.roomId.slice(1), `m.room.create named by room id ${ev.roomId}`);
    }
    for (const id of ev.authEventIds) {
      const a = this.get(id, `auth event of ${ev.eventId}`);
      if (a.type === CREATE && a.stateKey === "") return a;
    }
    return undefined;
  }
}
