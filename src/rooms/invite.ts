/**
 * Inviting someone: one m.room.member event. For a user of another server
 * the event first goes to their server, which countersigns it (and so
 * learns of the room) before we commit it: an invite their server never
 * saw would reach nobody.
 */
import type { ServerContext } from "../context.js";
import type { PersistedEvent } from "../engine/persist.js";
import { serverNameOf } from "../room/identifiers.js";
import { toRoomEvent } from "../room/event.js";
import type { JsonObject, PDU } from "../room/types.js";
import { getRoomVersion } from "../room/versions.js";
import { strippedStateOf } from "./stripped-state.js";

export async function sendInvite(hs: ServerContext, roomId: string, sender: string, target: string, content: JsonObject): Promise<PersistedEvent> {
  const draft = { type: "m.room.member", stateKey: target, sender, content };
  if (serverNameOf(target) === hs.config.server_name) return hs.localEvents.send(roomId, draft);
  return hs.localEvents.send(roomId, draft, undefined, async (event) => {
    const rules = getRoomVersion(event.roomVersion)!;
    const stripped = await strippedStateOf(hs, roomId);
    const signed = await hs.remote.invite(roomId, event.roomVersion, event.pdu as unknown as JsonObject, stripped);
    const countersigned = toRoomEvent(signed as unknown as PDU, rules);
    if (countersigned.eventId !== event.eventId) throw new Error("the invitee's server changed the invite");
    return countersigned;
  });
}
