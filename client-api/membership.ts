/**
 * Membership: join, invite, leave, kick, ban, unban, forget, and the
 * joined rooms list. Every change is one m.room.member event that the
 * auth rules judge (a refused one is 403 M_FORBIDDEN and changes nothing).
 */
import type Router from "@koa/router";
import { restrictedJoinAuthoriser } from "../src/rooms/restricted-joins.js";
import type { ServerContext } from "../src/context.js";
import { requireUser } from "../src/http/auth.js";
import { readJsonObject } from "../src/http/body.js";
import { MatrixError, forbidden, invalidParam, notFound } from "../src/http/errors.js";
import { optionalString, requireString } from "../src/http/params.js";
import { isValidUserId, serverNameOf } from "../src/room/identifiers.js";
import { sendInvite } from "../src/rooms/invite.js";
import { stateKey, type JsonObject } from "../src/room/types.js";
import type { RoomAccess } from "../src/rooms/access.js";
import { memberContent } from "../src/rooms/create-room.js";
import type { RoomClientStore } from "../src/rooms/room-data.js";

const PREFIX = "/_matrix/client/v3";

export function registerMembership(router: Router, hs: ServerContext, store: RoomClientStore, access: RoomAccess): void {
  const limit = hs.config.max_request_body_bytes;

  const reasonOf = (body: Record<string, unknown>): JsonObject => {
    const reason = optionalString(body, "reason");
    return reason === undefined ? {} : { reason };
  };
  const targetOf = (body: Record<string, unknown>): string => {
    const target = requireString(body, "user_id");
    if (!isValidUserId(target)) throw invalidParam(`Invalid user id ${target}`);
    return target;
  };
  const sendMember = async (roomId: string, sender: string, target: string, content: JsonObject) => {
    const persisted = await hs.localEvents.send(roomId, { type: "m.room.member", stateKey: target, sender, content });
    return persisted.event.eventId;
  };

  /** A room id, or the room an alias names (asking the alias's server when it is another), with servers that may know it. */
  const resolveRoom = async (roomIdOrAlias: string): Promise<{ roomId: string; servers: string[] }> => {
    if (roomIdOrAlias.startsWith("#")) {
      if (serverNameOf(roomIdOrAlias) !== hs.config.server_name) return hs.remote.resolveAlias(roomIdOrAlias);
      const row = await hs.aliases.get(roomIdOrAlias);
      if (!row) throw notFound(`Room alias ${roomIdOrAlias} not found`);
      return { roomId: row.roomId, servers: [] };
    }
    if (!roomIdOrAlias.startsWith("!")) throw invalidParam(`${roomIdOrAlias} is not a room id or alias`);
    return { roomId: roomIdOrAlias, servers: [] };
  };

  /** The servers named in ?via= (and the older ?server_name=). */
  const viaOf = (ctx: import("koa").Context): string[] =>
    ([] as unknown[]).concat(ctx.query.via ?? [], ctx.query.server_name ?? []).filter((s): s is string => typeof s === "string");

  /**
   * Where to join or leave through when no one here is in the room: the
   * servers given and the inviter's; when none are given, the room id's
   * server (before v12), the inviter's and any server of a member we know
   * of. Empty when someone here is joined
   * (the room is held here and the event is made here).
   */
  const remoteRoute = async (roomId: string, userId: string, given: string[]): Promise<string[]> => {
    const members = await hs.states.membersOfRoom(roomId, "join");
    if (members.some((u) => serverNameOf(u) === hs.config.server_name)) return [];
    const servers = new Set(given);
    const mine = await store.membership(roomId, userId);
    const inviter = mine?.membership === "invite" ? (await hs.events.getEvent(mine.eventId))?.event.sender : undefined;
    if (inviter) servers.add(serverNameOf(inviter)!);
    // Servers the client named are the route, in its order; only without any do we guess (Complement: TestRestrictedRoomsRemoteJoinFailOver).
    if (given.length === 0) {
      const idServer = serverNameOf(roomId);
      if (idServer) servers.add(idServer);
      for (const u of members) servers.add(serverNameOf(u)!);
    }
    servers.delete(hs.config.server_name);
    return [...servers];
  };

  /**
   * An invite from another server reaches us twice: by /invite (held aside
   * and shown to the invitee) and in the room's history. When we are in the
   * room and the invitee joins at once, the second may still be on its way;
   * wait a little for it, since the join's auth needs it in the state.
   */
  const inviteInState = async (roomId: string, userId: string): Promise<void> => {
    const deadline = Date.now() + 3000;
    for (;;) {
      const id = (await hs.states.currentState(roomId)).get(stateKey("m.room.member", userId));
      const ev = id === undefined ? undefined : await hs.events.getEvent(id);
      if (ev?.event.content.membership === "invite" || Date.now() > deadline) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const join = async (ctx: import("koa").Context, roomIdOrAlias: string) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, limit);
    // What else the client puts in the body goes into its member event (custom content, as Synapse), but never the membership itself.
    const { third_party_signed: _signed, membership: _membership, ...custom } = body;
    const extra: JsonObject = { ...(custom as JsonObject), ...reasonOf(body) };
    const { roomId, servers } = await resolveRoom(roomIdOrAlias);
    const route = await remoteRoute(roomId, me.userId, [...viaOf(ctx), ...servers]);
    if (route.length > 0) {
      await hs.remote.joinRoom(me.userId, roomId, route, await memberContent(hs, me.userId, "join", extra));
    } else {
      await access.requireRoom(roomId);
      const current = await store.membership(roomId, me.userId);
      if (current?.membership === "invite") await inviteInState(roomId, me.userId);
      if (current?.membership !== "join") {
        // A restricted room: one of our members who may invite vouches for the join (without one, the auth rules refuse it).
        const via = await restrictedJoinAuthoriser(hs, await hs.localEvents.rulesOf(roomId), roomId, me.userId).catch(() => undefined);
        const content = await memberContent(hs, me.userId, "join", extra);
        if (via) content.join_authorised_via_users_server = via;
        else delete content.join_authorised_via_users_server;
        await sendMember(roomId, me.userId, me.userId, content);
      }
    }
    await store.unforget(me.userId, roomId);
    // Joining an upgraded room: the user's push rules for the room it replaced carry over.
    const createId = (await hs.states.currentState(roomId)).get(stateKey("m.room.create", ""));
    const predecessor = createId === undefined ? undefined : ((await hs.events.getEvent(createId))?.event.content.predecessor as JsonObject | undefined)?.room_id;
    if (typeof predecessor === "string") await hs.push.rules.copyRoomRules(me.userId, predecessor, roomId);
    ctx.body = { room_id: roomId };
  };
  router.post(`${PREFIX}/join/:roomIdOrAlias`, (ctx) => join(ctx, ctx.params.roomIdOrAlias));
  router.post(`${PREFIX}/rooms/:roomId/join`, (ctx) => join(ctx, ctx.params.roomId));

  // Knocking asks to be let in; the room version's auth rules decide whether it may (v7+, knock join rules).
  router.post(`${PREFIX}/knock/:roomIdOrAlias`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, limit);
    const { roomId, servers } = await resolveRoom(ctx.params.roomIdOrAlias);
    const route = await remoteRoute(roomId, me.userId, [...viaOf(ctx), ...servers]);
    const current = await store.membership(roomId, me.userId);
    if (current?.membership !== "knock") {
      const content = await memberContent(hs, me.userId, "knock", reasonOf(body));
      if (route.length > 0) {
        await hs.remote.knockRoom(me.userId, roomId, route, content);
      } else {
        await access.requireRoom(roomId);
        await sendMember(roomId, me.userId, me.userId, content);
      }
    }
    ctx.body = { room_id: roomId };
  });

  router.post(`${PREFIX}/rooms/:roomId/invite`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, limit);
    const target = targetOf(body);
    const extra = reasonOf(body);
    await access.requireRoom(ctx.params.roomId);
    const current = await store.membership(ctx.params.roomId, target);
    if (current?.membership === "invite") {
      // Inviting an invitee again changes nothing (as Synapse), if the inviter may still invite.
      await access.requireJoined(ctx.params.roomId, me.userId);
      ctx.body = {};
      return;
    }
    await sendInvite(hs, ctx.params.roomId, me.userId, target, await memberContent(hs, target, "invite", extra));
    ctx.body = {};
  });

  router.post(`${PREFIX}/rooms/:roomId/leave`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, limit);
    const extra = reasonOf(body);
    await access.requireRoom(ctx.params.roomId);
    const current = await store.membership(ctx.params.roomId, me.userId);
    if (current === undefined || current.membership === "leave") {
      ctx.body = {}; // already out: nothing to do
      return;
    }
    // An invite (or our knock) on a room no one here is in: the rejection goes through the servers that are.
    const route = current.membership === "invite" || current.membership === "knock" ? await remoteRoute(ctx.params.roomId, me.userId, []) : [];
    if (route.length > 0) await hs.remote.leaveRoom(me.userId, ctx.params.roomId, route, { ...extra });
    else await sendMember(ctx.params.roomId, me.userId, me.userId, { membership: "leave", ...extra });
    ctx.body = {};
  });

  for (const action of ["kick", "ban", "unban"] as const) {
    router.post(`${PREFIX}/rooms/:roomId/${action}`, async (ctx) => {
      const me = await requireUser(ctx, hs.accounts);
      const body = await readJsonObject(ctx, limit);
      const target = targetOf(body);
      const extra = reasonOf(body);
      await access.requireRoom(ctx.params.roomId);
      const current = await store.membership(ctx.params.roomId, target);
      if (action === "unban" && current?.membership !== "ban") throw forbidden(`${target} is not banned`);
      if (action === "kick" && !["join", "invite", "knock"].includes(current?.membership ?? "leave")) {
        throw forbidden(`${target} is not in the room`);
      }
      const membership = action === "ban" ? "ban" : "leave";
      await sendMember(ctx.params.roomId, me.userId, target, { membership, ...extra });
      ctx.body = {};
    });
  }

  router.post(`${PREFIX}/rooms/:roomId/forget`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    await readJsonObject(ctx, limit);
    await access.requireRoom(ctx.params.roomId);
    const current = await store.membership(ctx.params.roomId, me.userId);
    if (current === undefined) throw notFound(`${me.userId} has never been in ${ctx.params.roomId}`);
    if (current.membership === "join" || current.membership === "invite" || current.membership === "knock") {
      throw new MatrixError(400, "M_UNKNOWN", `${me.userId} has not left ${ctx.params.roomId}`);
    }
    await store.forget(me.userId, ctx.params.roomId);
    ctx.body = {};
  });

  router.get(`${PREFIX}/joined_rooms`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    ctx.body = { joined_rooms: await hs.states.roomsForUser(me.userId, "join") };
  });
}
