/**
 * State resolution v2 (room versions 2–11) and v2.1 (room version 12).
 *
 * v2.1 differs in exactly two places, both chosen by the version table's
 * `stateResolution`:
 *  - the full conflicted set also contains the conflicted state subgraph
 *    (events on auth paths between two conflicted events), and
 *  - the first iterative auth checks start from an empty state instead of
 *    the unconflicted state map.
 * Orderings and the auth checks themselves are the same.
 */
import type { RoomEvent, StateMap } from "../types.js";
import type { RoomVersionRules } from "../versions.js";
import { walkAuthChain } from "./auth-chain.js";
import { JOIN_RULES, MEMBER, POWER_LEVELS, POWER_LEVELS_KEY, type Events, type ResolveOptions } from "./events.js";
import { iterativeAuthChecks } from "./iterative.js";
import { Mainline, SenderPower, mainlineOrder, reverseTopologicalPowerOrder } from "./ordering.js";

export interface ConflictSplit {
  /** Keys every state set maps to the same event. */
  readonly unconflicted: Map<string, string>;
  /** Every other event of any state set (a key missing from some set counts as conflicted). */
  readonly conflicted: Set<string>;
}

/** Splits the state sets into the unconflicted state map and the conflicted state set. */
export function splitConflicted(stateSets: readonly StateMap[]): ConflictSplit {
  const unconflicted = new Map<string, string>();
  const conflicted = new Set<string>();
  const [first, ...rest] = stateSets;
  if (first === undefined) return { unconflicted, conflicted };
  for (const [key, id] of first) {
    if (rest.every((s) => s.get(key) === id)) unconflicted.set(key, id);
    else conflicted.add(id);
  }
  // Keys absent from the first set are conflicted by definition.
  for (const s of rest) {
    for (const [key, id] of s) if (!unconflicted.has(key)) conflicted.add(id);
  }
  return { unconflicted, conflicted };
}

/**
 * The auth difference: ∪Cᵢ − ∩Cᵢ where Cᵢ is the union of the auth chains
 * of the events of state set i.
 *
 * Every Cᵢ contains U, the auth chain of the unconflicted events, and U is
 * closed under ancestry. So Cᵢ = U ∪ Wᵢ with Wᵢ the part of the conflicted
 * events' chains outside U, the difference is ∪Wᵢ − ∩Wᵢ, and each Wᵢ is
 * found by a walk that stops on entering U — in a typical fork only the few
 * events since the fork point. `common` is U if the caller already has it.
 */
export function authDifference(
  stateSets: readonly StateMap[],
  events: Events,
  split: ConflictSplit = splitConflicted(stateSets),
  common: ReadonlySet<string> = walkAuthChain(split.unconflicted.values(), events),
): Set<string> {
  const walks = stateSets.map((s) => {
    const start = [...s.values()].filter((id) => split.conflicted.has(id));
    return walkAuthChain(start, events, (id) => common.has(id));
  });
  const counts = new Map<string, number>();
  for (const w of walks) for (const id of w) counts.set(id, (counts.get(id) ?? 0) + 1);
  const diff = new Set<string>();
  for (const [id, n] of counts) if (n < walks.length) diff.add(id);
  return diff;
}

/**
 * v2.1's conflicted state subgraph: every event on an auth_events path from
 * one conflicted event to another, endpoints included.
 *
 * An event x is on such a path iff x is an auth ancestor-or-self of some
 * conflicted event and some other conflicted event is a strict ancestor of
 * x. We collect A, the ancestors of the conflicted events, then walk
 * *down* (from each conflicted event to the events in A ∪ conflicted that
 * cite it) to find D, the events with a conflicted strict ancestor. The
 * subgraph is (A ∩ D) plus the conflicted events that are in A or D.
 *
 * `prune`, if given, must be closed under ancestry and contain no conflicted
 * event; then no path between conflicted events passes through it.
 */
export function conflictedSubgraph(
  conflicted: ReadonlySet<string>,
  events: Events,
  prune?: ReadonlySet<string>,
): Set<string> {
  const ancestors = walkAuthChain(conflicted, events, prune === undefined ? undefined : (id) => prune.has(id));
  const children = new Map<string, string[]>();
  const addEdges = (id: string): void => {
    for (const parent of new Set(events.get(id).authEventIds)) {
      if (!ancestors.has(parent)) continue;
      const c = children.get(parent);
      if (c === undefined) children.set(parent, [id]);
      else c.push(id);
    }
  };
  for (const id of ancestors) addEdges(id);
  for (const id of conflicted) if (!ancestors.has(id)) addEdges(id);

  const below = new Set<string>();
  const queue: string[] = [];
  for (const c of conflicted) queue.push(...(children.get(c) ?? []));
  for (let i = 0; i < queue.length; i++) {
    const id = queue[i];
    if (below.has(id)) continue;
    below.add(id);
    for (const c of children.get(id) ?? []) if (!below.has(c)) queue.push(c);
  }

  const subgraph = new Set<string>();
  for (const id of ancestors) if (below.has(id)) subgraph.add(id);
  for (const id of conflicted) if (ancestors.has(id) || below.has(id)) subgraph.add(id);
  return subgraph;
}

/**
 * Power events: power levels, join rules, and memberships of leave or ban
 * sent by someone other than their target (kicks and bans): the events that
 * can take an ability away.
 */
export function isPowerEvent(ev: RoomEvent): boolean {
  if (ev.stateKey === undefined) return false;
  // The spec names the types without a state_key condition; follow it as written.
  if (ev.type === POWER_LEVELS || ev.type === JOIN_RULES) return true;
  if (ev.type !== MEMBER) return false;
  const m = ev.content.membership;
  return (m === "leave" || m === "ban") && ev.sender !== ev.stateKey;
}

/** Resolves state sets with v2 or v2.1, as `rules.stateResolution` says. */
export function resolveV2(
  rules: RoomVersionRules,
  stateSets: readonly StateMap[],
  events: Events,
  options: ResolveOptions = {},
): Map<string, string> {
  const v21 = rules.stateResolution === "v2.1";
  const split = splitConflicted(stateSets);
  if (split.conflicted.size === 0) return split.unconflicted;

  // U: the auth chain shared by every state set. It is closed under ancestry.
  const common = walkAuthChain(split.unconflicted.values(), events);
  // If no conflicted event lies in U, neither the subgraph nor the power
  // events' conflicted ancestry can reach into U, so walks may stop at its edge.
  let conflictedInCommon = false;
  for (const id of split.conflicted) if (common.has(id)) conflictedInCommon = true;
  const prune = conflictedInCommon ? undefined : common;

  const full = new Set<string>(split.conflicted);
  for (const id of authDifference(stateSets, events, split, common)) full.add(id);
  if (v21) for (const id of conflictedSubgraph(split.conflicted, events, prune)) full.add(id);

  // Step 1: power events of the full conflicted set, plus the events of their
  // auth chains that are in the full conflicted set.
  const powerIds: string[] = [];
  for (const id of full) if (isPowerEvent(events.get(id))) powerIds.push(id);
  const picked = new Set<string>(powerIds);
  const powerAncestry = walkAuthChain(powerIds, events, prune === undefined ? undefined : (id) => prune.has(id));
  for (const id of powerAncestry) if (full.has(id)) picked.add(id);
  const power = new SenderPower(events, rules);
  const powerSorted = reverseTopologicalPowerOrder(picked, events, power);

  // Step 2: v2 replays on top of the unconflicted state; v2.1 from nothing,
  // so the replay rests on the events' own auth chains.
  const state = v21 ? new Map<string, string>() : new Map(split.unconflicted);
  iterativeAuthChecks(powerSorted, state, rules, events, options);

  // Step 3: everything else, by mainline order of the resolved power levels.
  const mainline = new Mainline(state.get(POWER_LEVELS_KEY), events);
  const rest: RoomEvent[] = [];
  for (const id of full) if (!picked.has(id)) rest.push(events.get(id));
  const restSorted = mainlineOrder(rest, mainline);

  // Step 4
  iterativeAuthChecks(restSorted, state, rules, events, options);

  // Step 5: the unconflicted state map always wins.
  for (const [key, id] of split.unconflicted) state.set(key, id);
  return state;
}
