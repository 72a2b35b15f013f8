/**
 * The iterative auth checks of state resolution v2 / v2.1.
 *
 * Each event is checked against the partially resolved state. A key the
 * auth rules need that the partial state does not have is taken from the
 * event's own auth_events (unless that auth event was rejected). Passing
 * events overwrite their key in the state; failing ones are skipped.
 */
import { authEventTypes, checkAuth } from "../auth.js";
import { AuthError, stateKey, type RoomEvent } from "../types.js";
import type { RoomVersionRules } from "../versions.js";
import { CREATE_KEY, type Events, type ResolveOptions } from "./events.js";

/**
 * Applies `sorted` to `state` in order, mutating `state`. `state` maps keys
 * to event ids, like a StateMap.
 */
export function iterativeAuthChecks(
  sorted: readonly RoomEvent[],
  state: Map<string, string>,
  rules: RoomVersionRules,
  events: Events,
  options: ResolveOptions = {},
): void {
  for (const ev of sorted) {
    // Only state events are ever in the sets being resolved; a message event
    // here would have no key to write.
    if (ev.stateKey === undefined) continue;
    const view = authStateFor(ev, state, rules, events, options);
    try {
      checkAuth(ev, (type, key) => view.get(stateKey(type, key)), rules);
    } catch (err) {
      if (err instanceof AuthError) continue;
      throw err;
    }
    state.set(stateKey(ev.type, ev.stateKey), ev.eventId);
  }
}

/**
 * The state `ev` is authorised against: for every (type, state_key) the
 * auth-events selection says the rules may consult for this event, the
 * partially resolved state's event if it has one, else `ev`'s own auth event
 * for that key if it is not rejected. Nothing else is visible, so the rules
 * cannot depend on unrelated state.
 *
 * From v12 the create event is not selectable as an auth event; the rules
 * still need it, so it is taken from the partial state or, failing that,
 * from the room id that names it.
 */
export function authStateFor(
  ev: RoomEvent,
  state: ReadonlyMap<string, string>,
  rules: RoomVersionRules,
  events: Events,
  options: ResolveOptions = {},
): Map<string, RoomEvent> {
  const fromAuth = new Map<string, RoomEvent>();
  for (const id of ev.authEventIds) {
    if (options.isRejected?.(id) === true) continue;
    const a = events.get(id, `auth event of ${ev.eventId}`);
    if (a.stateKey !== undefined) fromAuth.set(stateKey(a.type, a.stateKey), a);
  }
  const view = new Map<string, RoomEvent>();
  const pick = (key: string): void => {
    const id = state.get(key);
    const chosen = id !== undefined ? events.get(id, "partially resolved state") : fromAuth.get(key);
    if (chosen !== undefined) view.set(key, chosen);
  };
  for (const [type, key] of authEventTypes(ev.type, ev.stateKey, ev.sender, ev.content, rules)) {
    pick(stateKey(type, key));
  }
  if (!view.has(CREATE_KEY)) {
    pick(CREATE_KEY);
    if (!view.has(CREATE_KEY) && rules.roomIdFromCreateEvent) {
      const create = events.createEventFor(ev, rules);
      if (create !== undefined && options.isRejected?.(create.eventId) !== true) view.set(CREATE_KEY, create);
    }
  }
  return view;
}
