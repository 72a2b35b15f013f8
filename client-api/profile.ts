/**
 * Profiles: GET /profile/{userId} and its displayname / avatar_url fields;
 * PUT changes them and announces the change in every room the user is
 * joined to, with a new member event, as clients expect.
 */
import type Router from "@koa/router";
import type { ServerContext } from "../src/context.js";
import { requireUser } from "../src/http/auth.js";
import { readJsonObject } from "../src/http/body.js";
import { MatrixError, forbidden, notFound } from "../src/http/errors.js";
import { stateKey, type JsonObject } from "../src/room/types.js";
import { isValidUserId, serverNameOf } from "../src/room/identifiers.js";

const PREFIX = "/_matrix/client/v3";
const FIELDS = ["displayname", "avatar_url"] as const;
type Field = (typeof FIELDS)[number];
const MAX_FIELD_BYTES = 1024;

export function registerProfile(router: Router, hs: ServerContext): void {
  const local = async (userId: string) => {
    if (serverNameOf(userId) !== hs.config.server_name || !(await hs.accounts.userExists(userId))) {
      throw notFound("Profile not found");
    }
  };

  /** A user's profile, from their server when it is another. */
  const profileOf = async (userId: string, field?: Field): Promise<JsonObject> => {
    if (serverNameOf(userId) !== hs.config.server_name && isValidUserId(userId)) return hs.remote.profile(userId, field);
    await local(userId);
    return ((await hs.profiles.get(userId)) ?? {}) as JsonObject;
  };

  router.get(`${PREFIX}/profile/:userId`, async (ctx) => {
    ctx.body = await profileOf(ctx.params.userId);
  });

  for (const field of FIELDS) {
    router.get(`${PREFIX}/profile/:userId/${field}`, async (ctx) => {
      const value = (await profileOf(ctx.params.userId, field))[field];
      if (value === undefined) throw notFound(`No ${field} set`);
      ctx.body = { [field]: value };
    });

    router.put(`${PREFIX}/profile/:userId/${field}`, async (ctx) => {
      const me = await requireUser(ctx, hs.accounts);
      const body = await readJsonObject(ctx, hs.config.max_request_body_bytes);
      if (ctx.params.userId !== me.userId) throw forbidden("You may only change your own profile");
      const value = body[field];
      if (value !== undefined && value !== null && typeof value !== "string") throw new MatrixError(400, "M_BAD_JSON", `${field} must be a string`);
      if (typeof value === "string" && Buffer.byteLength(value) > MAX_FIELD_BYTES) throw new MatrixError(400, "M_TOO_LARGE", `${field} is too long`);
      await hs.profiles.set(me.userId, field, typeof value === "string" ? value : null);
      await announce(hs, me.userId, field, typeof value === "string" ? value : null);
      ctx.body = {};
    });
  }
}

/** A new member event in each joined room, carrying the changed field; a room that refuses is skipped. */
async function announce(hs: ServerContext, userId: string, field: Field, value: string | null): Promise<void> {
  for (const roomId of await hs.states.roomsForUser(userId, "join")) {
    try {
      const current = await hs.states.currentState(roomId);
      const memberId = current.get(stateKey("m.room.member", userId));
      const member = memberId ? await hs.events.getEvent(memberId) : undefined;
      const content: JsonObject = { ...(member?.event.content ?? {}), membership: "join" };
      if (value === null) delete content[field];
      else content[field] = value;
      await hs.localEvents.send(roomId, { type: "m.room.member", stateKey: userId, sender: userId, content });
    } catch (err) {
      hs.log.warn("profile change not announced in room", { room_id: roomId, user_id: userId, err: String(err) });
    }
  }
}
