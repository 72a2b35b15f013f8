/**
 * The public room directory, as this server lists it to its own users and
 * to other servers: published rooms with their summaries, largest first,
 * filtered by a search term and room types, in pages.
 */
import type { ServerContext } from "../context.js";
import { MatrixError } from "../http/errors.js";
import { serverNameOf } from "../room/identifiers.js";
import type { JsonObject } from "../room/types.js";
import type { RoomClientStore } from "./room-data.js";
import { roomSummary, type PublicRoomChunk } from "./summary.js";

export async function publicRooms(
hs: ServerContext, rooms: RoomClientStore, limit: number | undefined, since: string | undefined, filter: Record<string, unknown> | undefined,
): Promise<JsonObject> {
  let offset = 0;
  if (since !== undefined) {
    const m = /^o(\d+)$/.exec(since);
    if (!m) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid since token");
    offset = Number(m[1]);
  }
  const term = typeof filter?.generic_search_term === "string" ? filter.generic_search_term.toLowerCase() : undefined;
  const roomTypes = Array.isArray(filter?.room_types) ? (filter.room_types as unknown[]) : undefined;
  const all: PublicRoomChunk[] = [];
  for (const roomId of await rooms.publicRoomIds()) {
    const chunk = await roomSummary(hs, roomId);
    if (term && ![chunk.name, chunk.topic, chunk.canonical_alias].some((v) => typeof v === "string" && v.toLowerCase().includes(term))) continue;
    // room_types: null in the list stands for rooms without a type.
    if (roomTypes && !roomTypes.includes(chunk.room_type ?? null)) continue;
    all.push(chunk);
  }
  // Largest rooms first, then by id so that pages are stable.
  all.sort((a, b) => b.num_joined_members - a.num_joined_members || (a.room_id < b.room_id ? -1 : 1));
  const size = limit === undefined ? all.length : Math.max(0, limit);
  const page = all.slice(offset, offset + size);
  const out: Record<string, unknown> = { chunk: page, total_room_count_estimate: all.length };
  if (offset + size < all.length) out.next_batch = `o${offset + size}`;
  if (offset > 0) out.prev_batch = `o${Math.max(0, offset - size)}`;
  return out as JsonObject;
}


/** The servers of a room's joined members, ours first: where others may join through. */
export async function serversOfRoom(hs: ServerContext, roomId: string): Promise<string[]> {
  const servers = new Set<string>([hs.config.server_name]);
  for (const u of await hs.states.membersOfRoom(roomId, "join")) {
    const s = serverNameOf(u);
    if (s) servers.add(s);
  }
  return [...servers];
}
