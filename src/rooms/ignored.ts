/**
 * Ignored users (m.ignored_user_list account data): their events are left
 * out of everything served to the user who ignores them.
 */
import type { ServerContext } from "../context.js";
import type { RoomEvent } from "../room/types.js";

export async function ignoredUsers(hs: ServerContext, userId: string): Promise<ReadonlySet<string>> {
  const list = (await hs.accountData.get(userId, null, "m.ignored_user_list"))?.ignored_users;
  return new Set(typeof list === "object" && list !== null && !Array.isArray(list) ? Object.keys(list) : []);
}

export async function withoutIgnored(hs: ServerContext, userId: string, events: RoomEvent[]): Promise<RoomEvent[]> {
  const ignored = await ignoredUsers(hs, userId);
  return ignored.size === 0 ? events : events.filter((e) => !ignored.has(e.sender));
}
