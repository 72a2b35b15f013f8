/**
 * Restricted rooms (v8+): who on this server vouches for a join by a user
 * who is neither invited nor joined, when that user is in a room the join
 * rules allow. Used for joins made here and for make_join from others.
 */
import type { ServerContext } from "../context.js";
import { MatrixError } from "../http/errors.js";
import { serverNameOf } from "../room/identifiers.js";
import { powerLevelsOf, userPowerLevel } from "../room/power-levels.js";
import { stateKey } from "../room/types.js";
import type { RoomVersionRules } from "../room/versions.js";

/**
 * For a restricted room the user is not invited to: one of our joined
 * users who may invite, to vouch for the join, if the user is in one of the
 * rooms the join rules allow (as far as we can see: rooms we are in).
 * Undefined when the room is not restricted or the user needs no voucher.
 */
export async function restrictedJoinAuthoriser(hs: ServerContext, rules: RoomVersionRules, roomId: string, userId: string): Promise<string | undefined> {
  if (!rules.restrictedJoins) return undefined;
  const current = await hs.states.currentState(roomId);
  const jrId = current.get(stateKey("m.room.join_rules", ""));
  const jr = jrId ? (await hs.events.getEvent(jrId))?.event.content : undefined;
  const rule = jr?.join_rule;
  if (rule !== "restricted" && rule !== "knock_restricted") return undefined;
  const mine = await hs.states.membershipOf(roomId, userId);
  if (mine === "join" || mine === "invite") return undefined;
  const allow = Array.isArray(jr?.allow) ? jr.allow : [];
  let allowed = false;
  for (const a of allow) {
    if (typeof a !== "object" || a === null || Array.isArray(a) || a.type !== "m.room_membership" || typeof a.room_id !== "string") continue;
    // Only a room we are still in tells us who is in it now: after our last member left, what we hold of it is stale.
    if ((await hs.states.membershipOf(a.room_id, userId)) !== "join") continue;
    const here = await hs.states.membersOfRoom(a.room_id, "join");
    if (here.some((u) => serverNameOf(u) === hs.config.server_name)) allowed = true;
  }
  if (!allowed) throw new MatrixError(400, "M_UNABLE_TO_AUTHORISE_JOIN", "The user is not in any room the join rules allow (that this server knows of)");
  const lookup = await hs.stateReader.authLookup(current, [["m.room.create", ""], ["m.room.power_levels", ""]]);
  const needed = Number(powerLevelsOf(lookup, rules).invite ?? 0);
  for (const u of await hs.states.membersOfRoom(roomId, "join")) {
    if (serverNameOf(u) === hs.config.server_name && userPowerLevel(lookup, u, rules) >= needed) return u;
  }
  throw new MatrixError(400, "M_UNABLE_TO_GRANT_JOIN", "No one here may vouch for this join");
}
