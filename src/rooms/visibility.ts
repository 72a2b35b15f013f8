/**
 * History visibility: which events of a room a user may see
 * (Client-Server spec, "History visibility"), judged with the room state
 * at each event:
 *
 * - world_readable: everyone;
 * - the user was joined at the event: yes;
 * - shared: yes while the user is joined now;
 * - invited: yes if the user was invited (or joined) at the event;
 * - otherwise no.
 *
 * As in Synapse, the state at an event is the stored state after it, and
 * where the event itself changes what is judged (the user's own membership,
 * the history_visibility setting) the more permissive of before and after
 * counts: a user sees their own join under "joined", and the event that
 * tightens visibility is still seen under the old setting. A user always
 * sees their own leave from join or invite (so a room can be seen to end).
 */
import type { ServerContext } from "../context.js";
import { stateKey, type RoomEvent, type StateMap } from "../room/types.js";
import { getRoomVersion } from "../room/versions.js";

/** Most permissive first. */
const VISIBILITY_ORDER = ["world_readable", "shared", "invited", "joined"];
const MEMBERSHIP_ORDER = ["join", "invite", "knock", "leave", "ban"];

function normaliseVisibility(v: unknown): string {
  return typeof v === "string" && VISIBILITY_ORDER.includes(v) ? v : "shared";
}

function normaliseMembership(m: unknown): string {
  return typeof m === "string" && MEMBERSHIP_ORDER.includes(m) ? m : "leave";
}

export async function visibleEvents(
  hs: ServerContext,
  userId: string,
  roomId: string,
  events: RoomEvent[],
): Promise<RoomEvent[]> {
  if (events.length === 0) return [];
  const rules = getRoomVersion(events[0].roomVersion);
  if (!rules) return [];
  const current = (await hs.states.memberships(userId)).find((m) => m.room_id === roomId);
  const joinedNow = current?.membership === "join";

  const stored = await hs.events.getEvents(events.map((e) => e.eventId));
  const visKey = stateKey("m.room.history_visibility", "");
  const memberKey = stateKey("m.room.member", userId);
  // Only two keys of the state at each event matter: read them from the snapshot's links, not the whole state.
  const judged = new Map<number, Array<string | undefined>>();
  for (const s of stored.values()) {
    if (s.stateSnapshot !== null && !judged.has(s.stateSnapshot)) {
      judged.set(s.stateSnapshot, await hs.states.stateValues(s.stateSnapshot, [visKey, memberKey]));
    }
  }
  const wanted = new Set<string>();
  for (const ids of judged.values()) for (const id of ids) if (id) wanted.add(id);
  const loaded = await hs.events.getEvents(wanted);
  const contentOf = (id: string | undefined) => (id === undefined ? undefined : loaded.get(id)?.event.content);

  /** The state before an event: after its prev events (one snapshot in the usual case). */
  const before = async (ev: RoomEvent): Promise<StateMap> => {
    return hs.stateReader.stateBefore(rules, ev);
  };
  const contentBefore = async (ev: RoomEvent, key: string) => {
    const id = (await before(ev)).get(key);
    if (id === undefined) return undefined;
    return (await hs.events.getEvent(id))?.event.content;
  };

  const out: RoomEvent[] = [];
  for (const ev of events) {
    if (ev.roomId !== roomId) continue;
    const s = stored.get(ev.eventId);
    if (!s || s.stateSnapshot === null || s.rejectedReason !== null) continue;
    const [visId, memberId] = judged.get(s.stateSnapshot)!;
    let visibility = normaliseVisibility(contentOf(visId)?.history_visibility ?? "shared");
    let membership = normaliseMembership(contentOf(memberId)?.membership);

    if (ev.type === "m.room.member" && ev.stateKey === userId) {
      const prev = normaliseMembership((await contentBefore(ev, memberKey))?.membership);
      if (membership === "leave" && (prev === "join" || prev === "invite")) {
        out.push(ev);
        continue;
      }
      if (MEMBERSHIP_ORDER.indexOf(prev) < MEMBERSHIP_ORDER.indexOf(membership)) membership = prev;
    }
    if (ev.type === "m.room.history_visibility" && ev.stateKey === "") {
      const prev = normaliseVisibility((await contentBefore(ev, visKey))?.history_visibility ?? "shared");
      if (VISIBILITY_ORDER.indexOf(prev) < VISIBILITY_ORDER.indexOf(visibility)) visibility = prev;
    }

    const visible =
      visibility === "world_readable" ||
      membership === "join" ||
      (visibility === "shared" && joinedNow) ||
      (visibility === "invited" && membership === "invite");
    if (visible) out.push(ev);
  }
  return out;
}
