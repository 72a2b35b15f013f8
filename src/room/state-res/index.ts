/**
 * State resolution: merging the room states after several prev_events into
 * the state before an event.
 *
 * Contract: `lookup` must return every event of every state set and every
 * event of their full auth chains (the resolution walks auth_events back to
 * the create event). A miss throws `MissingEventError`; resolving without
 * an event would give a different answer than other servers. Callers
 * usually preload events from storage and pass a Map's `get`.
 *
 * The algorithm is chosen by the room version table (`rules.stateResolution`),
 * never by the version string.
 */
import type { EventLookup, StateMap } from "../types.js";
import type { RoomVersionRules } from "../versions.js";
import { Events, type ResolveOptions } from "./events.js";
import { resolveV1 } from "./v1.js";
import { resolveV2 } from "./v2.js";

export { authChain } from "./auth-chain.js";
export { MissingEventError, type ResolveOptions } from "./events.js";

/**
 * The resolution of `stateSets`. With no sets the result is empty; with one
 * it is that set. The result is a new map the caller may keep.
 */
export function resolveState(
  rules: RoomVersionRules,
  stateSets: readonly StateMap[],
  lookup: EventLookup,
  options: ResolveOptions = {},
): StateMap {
  if (stateSets.length === 0) return new Map();
  if (stateSets.length === 1) return new Map(stateSets[0]);
  const events = new Events(lookup);
  switch (rules.stateResolution) {
    case "v1":
      return resolveV1(rules, stateSets, events);
    case "v2":
    case "v2.1":
      return resolveV2(rules, stateSets, events, options);
  }
}
