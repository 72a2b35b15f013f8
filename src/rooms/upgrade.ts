/**
 * Room upgrades (POST /rooms/{roomId}/upgrade): a new room of the asked
 * version that carries the old one's state and its users' power, a
 * tombstone in the old room pointing to it, the old room's aliases moved
 * across, and the old room muted so conversation moves on.
 */
import type { ServerContext } from "../context.js";
import { MatrixError, forbidden } from "../http/errors.js";
import { powerLevelsOf, requiredLevelIn, userPowerLevel } from "../room/power-levels.js";
import { stateKey, type JsonObject, type JsonValue } from "../room/types.js";
import { getRoomVersion } from "../room/versions.js";
import { memberContent } from "./create-room.js";
import type { RoomClientStore } from "./room-data.js";

/** State that moves to the new room as it is (power levels and aliases are handled apart). */
const COPIED_STATE = [
  "m.room.join_rules", "m.room.history_visibility", "m.room.guest_access", "m.room.name", "m.room.topic",
  "m.room.avatar", "m.room.encryption", "m.room.server_acl", "m.room.related_groups", "m.room.pinned_events",
];

export async function upgradeRoom(hs: ServerContext, store: RoomClientStore, userId: string, oldRoomId: string, newVersion: string): Promise<string> {
  const newRules = getRoomVersion(newVersion);
  if (!newRules) throw new MatrixError(400, "M_UNSUPPORTED_ROOM_VERSION", `Room version ${newVersion} is not supported`);
  const oldRules = await hs.localEvents.rulesOf(oldRoomId);
  if ((await hs.states.membershipOf(oldRoomId, userId)) !== "join") throw forbidden("You are not joined to this room");

  const current = await hs.states.currentState(oldRoomId);
  const stateEvents = await hs.events.getEvents(current.values());
  const content = (type: string, key = ""): JsonObject | undefined => {
    const id = current.get(stateKey(type, key));
    return id ? stateEvents.get(id)?.event.content : undefined;
  };
  const lookup = await hs.stateReader.authLookup(current, [["m.room.create", ""], ["m.room.power_levels", ""]]);
  const pl = powerLevelsOf(lookup, oldRules);
  if (userPowerLevel(lookup, userId, oldRules) < requiredLevelIn(pl, "m.room.tombstone", "")) {
    throw forbidden("You may not upgrade this room");
  }

  // The new room: its create event names its predecessor and keeps the room type.
  const oldCreate = content("m.room.create") ?? {};
  const createContent: JsonObject = { predecessor: { room_id: oldRoomId } };
  if (oldCreate.type !== undefined) createContent.type = oldCreate.type;
  if (oldCreate["m.federate"] !== undefined) createContent["m.federate"] = oldCreate["m.federate"];
  const created = await hs.localEvents.createRoom(userId, newVersion, createContent);
  const newRoomId = created.event.roomId;
  const send = (type: string, key: string, c: JsonObject) => hs.localEvents.send(newRoomId, { type, stateKey: key, sender: userId, content: c });
  await send("m.room.member", userId, await memberContent(hs, userId, "join"));
  await hs.push.rules.copyRoomRules(userId, oldRoomId, newRoomId);

  // Power levels as they were, less what the new version forbids (v12: creators are not listed).
  // The upgrader is raised to send the copied state, then put back.
  const oldPl = content("m.room.power_levels") ?? {};
  const users: Record<string, JsonValue> = { ...((oldPl.users as JsonObject | undefined) ?? {}) };
  if (newRules.privilegedCreators) delete users[userId];
  // Leaving a version with privileged creators: they keep their power as plain admins.
  if (oldRules.privilegedCreators && !newRules.privilegedCreators) {
    const extra = Array.isArray(oldCreate.additional_creators) ? oldCreate.additional_creators : [];
    const oldCreator = (await hs.events.getEvent(current.get(stateKey("m.room.create", "")) ?? ""))?.event.sender;
    for (const c of [oldCreator, ...extra]) if (typeof c === "string") users[c] = 100;
  }
  const newPl: JsonObject = { ...oldPl, users };
  const needsRaise = !newRules.privilegedCreators && (typeof users[userId] !== "number" || (users[userId] as number) < 100);
  await send("m.room.power_levels", "", needsRaise ? { ...newPl, users: { ...users, [userId]: 100 } } : newPl);
  for (const type of COPIED_STATE) {
    const c = content(type);
    if (c !== undefined) await send(type, "", c);
  }

  // Aliases follow the room.
  const aliases = await hs.aliases.forRoom(oldRoomId);
  for (const alias of aliases) {
    const row = await hs.aliases.get(alias);
    await hs.aliases.delete(alias);
    await hs.aliases.create(alias, newRoomId, row?.creator ?? userId);
  }
  const canonical = content("m.room.canonical_alias");
  if (canonical !== undefined) await send("m.room.canonical_alias", "", canonical);
  if (needsRaise) await send("m.room.power_levels", "", newPl);
  if ((await store.visibility(oldRoomId)) === "public") {
    await store.setVisibility(newRoomId, "public");
    await store.setVisibility(oldRoomId, "private");
  }

  // The tombstone, then mute the old room: only moderators may speak or invite there now.
  await hs.localEvents.send(oldRoomId, {
    type: "m.room.tombstone", stateKey: "", sender: userId,
    content: { body: "This room has been replaced", replacement_room: newRoomId },
  });
  if (canonical !== undefined) {
    await hs.localEvents.send(oldRoomId, { type: "m.room.canonical_alias", stateKey: "", sender: userId, content: {} }).catch(() => undefined);
  }
  const restricted = Math.max(50, pl.users_default + 1);
  await hs.localEvents
    .send(oldRoomId, { type: "m.room.power_levels", stateKey: "", sender: userId, content: { ...oldPl, events_default: restricted, invite: restricted } })
    .catch((err) => hs.log.warn("could not restrict the upgraded room", { room_id: oldRoomId, err: String(err) }));
  return newRoomId;
}
