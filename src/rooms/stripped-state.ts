/**
 * Stripped state: the few events that describe a room to someone invited
 * or knocking before they can read it (name, avatar, join rules, ...),
 * reduced to type, state_key, content and sender (the create event whole).
 */
import type { ServerContext } from "../context.js";
import { stateKey, type JsonObject, type RoomEvent } from "../room/types.js";

export const STRIPPED_STATE_TYPES = [
  "m.room.create", "m.room.join_rules", "m.room.name", "m.room.avatar", "m.room.canonical_alias",
  "m.room.encryption", "m.room.topic",
];

export function strip(e: RoomEvent): JsonObject {
  return { type: e.type, state_key: e.stateKey ?? "", content: e.content, sender: e.sender };
}

/** In stripped state the create event goes whole (MSC4311, Matrix 1.16): it lets the invitee check the room id (v12) and version. */
function stripOrWhole(e: RoomEvent): JsonObject {
  return e.type === "m.room.create" ? { ...(e.pdu as JsonObject), ...strip(e) } : strip(e);
}

/** The room's current stripped state (and `extra` events, such as the membership itself, after it). */
export async function strippedStateOf(hs: ServerContext, roomId: string, extraEventIds: string[] = []): Promise<JsonObject[]> {
  const current = await hs.states.currentState(roomId);
  const ids = STRIPPED_STATE_TYPES.map((t) => current.get(stateKey(t, ""))).filter((id): id is string => id !== undefined);
  ids.push(...extraEventIds);
  const loaded = await hs.events.getEvents(ids);
  return ids.map((id) => loaded.get(id)?.event).filter((e): e is RoomEvent => e !== undefined).map(stripOrWhole);
}
