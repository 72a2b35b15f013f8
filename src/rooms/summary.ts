/**
 * A room as the public directory and room summaries describe it: its name,
 * topic, alias, avatar, join rule and member count, read from current state.
 */
import type { ServerContext } from "../context.js";
import { stateKey, type JsonObject } from "../room/types.js";

export interface PublicRoomChunk extends JsonObject {
  room_id: string;
  num_joined_members: number;
  world_readable: boolean;
  guest_can_join: boolean;
}

const SUMMARY_TYPES = [
  "m.room.name", "m.room.topic", "m.room.canonical_alias", "m.room.avatar",
  "m.room.join_rules", "m.room.history_visibility", "m.room.guest_access", "m.room.create",
];

export async function roomSummary(hs: ServerContext, roomId: string): Promise<PublicRoomChunk> {
  const current = await hs.states.currentState(roomId);
  const ids = SUMMARY_TYPES.map((t) => current.get(stateKey(t, ""))).filter((id): id is string => id !== undefined);
  const loaded = await hs.events.getEvents(ids);
  const content = (type: string): JsonObject | undefined => {
    const id = current.get(stateKey(type, ""));
    return id ? loaded.get(id)?.event.content : undefined;
  };
  const str = (type: string, key: string): string | undefined => {
    const v = content(type)?.[key];
    return typeof v === "string" && v !== "" ? v : undefined;
  };
  const chunk: PublicRoomChunk = {
    room_id: roomId,
    num_joined_members: (await hs.states.membersOfRoom(roomId, "join")).length,
    world_readable: str("m.room.history_visibility", "history_visibility") === "world_readable",
    guest_can_join: str("m.room.guest_access", "guest_access") === "can_join",
  };
  const optional: Array<[string, string | undefined]> = [
    ["name", str("m.room.name", "name")],
    ["topic", str("m.room.topic", "topic")],
    ["canonical_alias", str("m.room.canonical_alias", "alias")],
    ["avatar_url", str("m.room.avatar", "url")],
    ["join_rule", str("m.room.join_rules", "join_rule")],
    ["room_type", str("m.room.create", "type")],
  ];
  for (const [k, v] of optional) if (v !== undefined) chunk[k] = v;
  return chunk;
}
