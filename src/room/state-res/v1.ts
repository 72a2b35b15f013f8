/**
 * State resolution v1 (room version 1).
 *
 * R starts as every key all states agree on (a key only some states have is
 * not a conflict: a conflict is two *different* event ids for one key). The
 * conflicted power levels, then join rules, then each conflicted member key
 * are replayed from lowest depth: the first event is taken unchecked, each
 * later one only if the auth rules allow it in R, stopping at the first that
 * fails. Every other conflicted key takes its highest-depth event that the
 * rules allow in R. Ties within a depth go by sha1(event_id): descending in
 * the replay order, so in both cases the lowest hash is preferred.
 */
import { createHash } from "node:crypto";

import { checkAuth } from "../auth.js";
import { AuthError, splitStateKey, stateKey, type RoomEvent, type StateMap } from "../types.js";
import type { RoomVersionRules } from "../versions.js";
import { JOIN_RULES_KEY, MEMBER, POWER_LEVELS_KEY, type Events } from "./events.js";

function sha1Hex(s: string): string {
  return createHash("sha1").update(s, "utf8").digest("hex");
}

interface Candidate {
  readonly ev: RoomEvent;
  readonly hash: string;
}

/** Ascending depth, then descending sha1(event_id). */
function replayOrder(a: Candidate, b: Candidate): number {
  if (a.ev.depth !== b.ev.depth) return a.ev.depth - b.ev.depth;
  return a.hash < b.hash ? 1 : a.hash > b.hash ? -1 : 0;
}

export function resolveV1(
  rules: RoomVersionRules,
  stateSets: readonly StateMap[],
  events: Events,
): Map<string, string> {
  const byKey = new Map<string, Set<string>>();
  for (const s of stateSets) {
    for (const [key, id] of s) {
      const ids = byKey.get(key);
      if (ids === undefined) byKey.set(key, new Set([id]));
      else ids.add(id);
    }
  }
  const r = new Map<string, string>();
  const conflicts = new Map<string, Candidate[]>();
  for (const [key, ids] of byKey) {
    if (ids.size === 1) r.set(key, ids.values().next().value as string);
    else conflicts.set(key, [...ids].map((id) => ({ ev: events.get(id, "state set"), hash: sha1Hex(id) })));
  }
  if (conflicts.size === 0) return r;

  const allowedIn = (ev: RoomEvent): boolean => {
    try {
      checkAuth(ev, (type, key) => {
        const id = r.get(stateKey(type, key));
        return id === undefined ? undefined : events.get(id, "resolved state");
      }, rules);
      return true;
    } catch (err) {
      if (err instanceof AuthError) return false;
      throw err;
    }
  };

  const replay = (key: string): void => {
    const list = conflicts.get(key);
    if (list === undefined) return;
    conflicts.delete(key);
    list.sort(replayOrder);
    r.set(key, list[0].ev.eventId);
    for (const c of list.slice(1)) {
      if (!allowedIn(c.ev)) break;
      r.set(key, c.ev.eventId);
    }
  };

  replay(POWER_LEVELS_KEY);
  replay(JOIN_RULES_KEY);
  // The spec gives no order between member keys; sorting makes it deterministic.
  const sortedKeys = [...conflicts.keys()].sort();
  for (const key of sortedKeys) if (splitStateKey(key)[0] === MEMBER) replay(key);

  for (const key of sortedKeys) {
    const list = conflicts.get(key);
    if (list === undefined) continue;
    list.sort(replayOrder).reverse(); // highest depth, lowest hash first
    const winner = list.find((c) => allowedIn(c.ev));
    // If none passes, the key is left out of the resolved state.
    if (winner !== undefined) r.set(key, winner.ev.eventId);
  }
  return r;
}
