/**
 * Auth chains: the events reachable from an event by following auth_events
 * ("Auth chain" in the state resolution definitions).
 */
import type { EventLookup } from "../types.js";
import { Events } from "./events.js";

/**
 * All auth ancestors of `eventIds`: their auth events, those events' auth
 * events, and so on. A starting event is included only if it is itself an
 * ancestor of another starting event. Throws `MissingEventError` if an event
 * of the chain cannot be looked up.
 */
export function authChain(eventIds: Iterable<string>, lookup: EventLookup | Events): Set<string> {
  const events = lookup instanceof Events ? lookup : new Events(lookup);
  return walkAuthChain(eventIds, events);
}

/**
 * Breadth-first walk over auth_events from `start` (exclusive). `stopAt`
 * prunes the walk: an event it accepts is neither included nor expanded.
 * Callers use it with a set that is closed under ancestry, so pruning there
 * loses nothing they need.
 */
export function walkAuthChain(
  start: Iterable<string>,
  events: Events,
  stopAt?: (eventId: string) => boolean,
): Set<string> {
  const seen = new Set<string>();
  const queue: string[] = [];
  for (const id of start) {
    for (const a of events.get(id, "start of an auth chain").authEventIds) queue.push(a);
  }
  // An index instead of shift() keeps the walk linear on long chains.
  for (let i = 0; i < queue.length; i++) {
    const id = queue[i];
    if (seen.has(id) || (stopAt !== undefined && stopAt(id))) continue;
    seen.add(id);
    for (const a of events.get(id, "auth chain").authEventIds) {
      if (!seen.has(a)) queue.push(a);
    }
  }
  return seen;
}
