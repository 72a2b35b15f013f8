/**
 * The room DAG over federation, inbound: single events, the state at an
 * event (as ids or full), auth chains, backfill and missing events for
 * servers in the room; join, leave and invite handshakes for their users.
 * Every event a remote server sends goes through RemoteEvents, the same
 * checks and the same persist pipeline as everything else.
 */
import type Router from "@koa/router";
import type { Context } from "koa";
import type { ServerContext } from "../src/context.js";
import { BadSignatureError } from "../src/engine/remote-events.js";
import { MatrixError, badJson, forbidden, notFound } from "../src/http/errors.js";
import { serverNameOf } from "../src/room/identifiers.js";
import { signEvent } from "../src/room/event.js";
import { redactPdu } from "../src/room/redaction.js";
import { powerLevelsOf, userPowerLevel } from "../src/room/power-levels.js";
import { AuthError, EventFormatError, stateKey, type JsonObject, type PDU, type RoomEvent } from "../src/room/types.js";
import { getRoomVersion, type RoomVersionRules } from "../src/room/versions.js";
import { authenticate, checkServerAcl, type FederationRequest } from "./inbound-auth.js";
import type { KeyRing } from "./key-ring.js";
import type { FederationSender } from "./sender.js";
import { serversOfRoom } from "../src/rooms/public-rooms.js";
import { strippedStateOf } from "../src/rooms/stripped-state.js";
import { restrictedJoinAuthoriser } from "../src/rooms/restricted-joins.js";

const V1 = "/_matrix/federation/v1";
const V2 = "/_matrix/federation/v2";
const MAX_BACKFILL = 100;

/** The PDU as other servers see it. */
export function wirePdu(ev: RoomEvent): JsonObject {
  const { unsigned: _u, ...pdu } = ev.pdu;
  return pdu as JsonObject;
}

export function registerRoomRoutes(router: Router, hs: ServerContext, keys: KeyRing, sender: FederationSender): void {
  const rulesOf = async (roomId: string): Promise<RoomVersionRules> => {
    const version = await hs.rooms.version(roomId);
    const rules = version === undefined ? undefined : getRoomVersion(version);
    if (!rules) throw notFound("Unknown room");
    return rules;
  };

  /** Authenticated, not banned by the ACL, and with a member in the room (so its users may see its events). */
  const inRoom = async (ctx: Context, roomId: string): Promise<FederationRequest> => {
    const req = await authenticate(ctx, hs, keys);
    await rulesOf(roomId);
    await checkServerAcl(hs, roomId, req.origin);
    if (!(await serverHasMember(hs, roomId, req.origin))) throw forbidden("Your server has no one in this room");
    return req;
  };

  const stateBeforeEvent = async (ev: RoomEvent, rules: RoomVersionRules): Promise<Map<string, string>> => {
    const held = await hs.events.getEvents(ev.prevEventIds);
    const placed = ev.prevEventIds.filter((id) => held.get(id)?.stateSnapshot != null);
    if (placed.length === 0) return new Map();
    return new Map((await hs.stateReader.stateAfter(rules, placed)).state);
  };

  const authChainOf = async (ids: Iterable<string>): Promise<RoomEvent[]> => {
    const roots = new Set(ids);
    const all = await hs.events.loadWithAuthChains(roots);
    const chain = new Set<string>();
    for (const id of roots) for (const a of all.get(id)?.event.authEventIds ?? []) chain.add(a);
    // v12: the create event is in no event's auth_events, but every chain rests on it.
    const first = all.values().next().value;
    if (first && getRoomVersion(first.event.roomVersion)?.roomIdFromCreateEvent) {
      const createId = `$${first.event.roomId.slice(1)}`;
      const create = await hs.events.getEvent(createId);
      if (create) all.set(createId, create);
      chain.add(createId);
    }
    // Everything reachable through auth edges from the roots, the roots themselves excluded unless reached.
    const out = new Map<string, RoomEvent>();
    const stack = [...chain];
    while (stack.length) {
      const id = stack.pop()!;
      const s = all.get(id);
      if (!s || out.has(id)) continue;
      out.set(id, s.event);
      stack.push(...s.event.authEventIds);
    }
    return [...out.values()];
  };

  const eventInRoom = async (roomId: string, eventId: string): Promise<RoomEvent> => {
    const s = await hs.events.getEvent(eventId);
    if (!s || s.event.roomId !== roomId) throw notFound("Unknown event");
    return s.event;
  };

  router.get(`${V1}/event/:eventId`, async (ctx) => {
    const req = await authenticate(ctx, hs, keys);
    const s = await hs.events.getEvent(ctx.params.eventId);
    if (!s) throw notFound("Unknown event");
    await checkServerAcl(hs, s.event.roomId, req.origin);
    if (!(await serverHasMember(hs, s.event.roomId, req.origin))) throw forbidden("Your server has no one in this room");
    ctx.body = { origin: hs.config.server_name, origin_server_ts: Date.now(), pdus: await forServer(hs, [s.event], req.origin) };
  });

  const stateAt = async (ctx: Context) => {
    const roomId = ctx.params.roomId;
    await inRoom(ctx, roomId);
    const rules = await rulesOf(roomId);
    const eventId = ctx.query.event_id;
    if (typeof eventId !== "string") throw new MatrixError(400, "M_MISSING_PARAM", "event_id is required");
    const ev = await eventInRoom(roomId, eventId);
    const state = await stateBeforeEvent(ev, rules);
    const chain = await authChainOf(state.values());
    const stateEvents = [...(await hs.events.getEvents(state.values())).values()].map((s) => s.event);
    return { state: stateEvents, chain };
  };

  router.get(`${V1}/state_ids/:roomId`, async (ctx) => {
    const { state, chain } = await stateAt(ctx);
    ctx.body = { pdu_ids: state.map((e) => e.eventId), auth_chain_ids: chain.map((e) => e.eventId) };
  });

  router.get(`${V1}/state/:roomId`, async (ctx) => {
    const { state, chain } = await stateAt(ctx);
    ctx.body = { pdus: state.map(wirePdu), auth_chain: chain.map(wirePdu) };
  });

  router.get(`${V1}/event_auth/:roomId/:eventId`, async (ctx) => {
    await inRoom(ctx, ctx.params.roomId);
    const ev = await eventInRoom(ctx.params.roomId, ctx.params.eventId);
    ctx.body = { auth_chain: (await authChainOf([ev.eventId])).map(wirePdu) };
  });

  router.get(`${V1}/backfill/:roomId`, async (ctx) => {
    const req = await inRoom(ctx, ctx.params.roomId);
    const from = ([] as unknown[]).concat(ctx.query.v ?? []).filter((v): v is string => typeof v === "string");
    const limit = Math.min(MAX_BACKFILL, Math.max(1, Number(ctx.query.limit ?? 10) || 10));
    const events = await walkBack(hs, ctx.params.roomId, from, limit, new Set(), 0);
    ctx.body = { origin: hs.config.server_name, origin_server_ts: Date.now(), pdus: await forServer(hs, events, req.origin) };
  });

  router.post(`${V1}/get_missing_events/:roomId`, async (ctx) => {
    const { body, origin } = await inRoom(ctx, ctx.params.roomId);
    const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);
    const latest = strings(body.latest_events);
    const earliest = new Set(strings(body.earliest_events));
    const limit = Math.min(MAX_BACKFILL, Math.max(1, typeof body.limit === "number" ? body.limit : 10));
    const minDepth = typeof body.min_depth === "number" ? body.min_depth : 0;
    const starts = (await hs.events.getEvents(latest));
    const prevs = [...starts.values()].filter((s) => s.event.roomId === ctx.params.roomId).flatMap((s) => s.event.prevEventIds);
    const events = await walkBack(hs, ctx.params.roomId, prevs, limit, earliest, minDepth);
    ctx.body = { events: await forServer(hs, events.reverse(), origin) };
  });

  // ---- joins ----
  router.get(`${V1}/make_join/:roomId/:userId`, async (ctx) => {
    const req = await authenticate(ctx, hs, keys);
    const { roomId, userId } = ctx.params;
    const rules = await rulesOf(roomId);
    await checkServerAcl(hs, roomId, req.origin);
    if (serverNameOf(userId) !== req.origin) throw forbidden("The user is not on the requesting server");
    const supported = ([] as unknown[]).concat(ctx.query.ver ?? ["1"]);
    if (!supported.includes(rules.id)) {
      throw new MatrixError(400, "M_INCOMPATIBLE_ROOM_VERSION", `Your server does not support room version ${rules.id}`, { room_version: rules.id });
    }
    const authoriser = await restrictedJoinAuthoriser(hs, rules, roomId, userId);
    const extra: JsonObject = authoriser ? { join_authorised_via_users_server: authoriser } : {};
    ctx.body = { event: await template(hs, rules, roomId, userId, "join", extra), room_version: rules.id };
  });

  const sendJoin = async (ctx: Context) => {
    const { roomId, eventId } = ctx.params;
    const req = await authenticate(ctx, hs, keys);
    const rules = await rulesOf(roomId);
    await checkServerAcl(hs, roomId, req.origin);
    const event = await acceptMembership(hs, req, rules, roomId, eventId, "join");
    await sender.relay(event, req.origin);
    const state = await stateBeforeEvent(event, rules);
    const stateEvents = [...(await hs.events.getEvents(state.values())).values()].map((s) => s.event);
    const chain = await authChainOf([...state.values(), event.eventId]);
    return {
      origin: hs.config.server_name,
      state: stateEvents.map(wirePdu),
      auth_chain: chain.map(wirePdu),
      event: wirePdu(event),
      members_omitted: false,
      servers_in_room: await serversOfRoom(hs, roomId),
    };
  };
  router.put(`${V2}/send_join/:roomId/:eventId`, async (ctx) => {
    ctx.body = await sendJoin(ctx);
  });
  router.put(`${V1}/send_join/:roomId/:eventId`, async (ctx) => {
    ctx.body = [200, await sendJoin(ctx)];
  });

  // ---- leaves ----
  router.get(`${V1}/make_leave/:roomId/:userId`, async (ctx) => {
    const req = await authenticate(ctx, hs, keys);
    const { roomId, userId } = ctx.params;
    const rules = await rulesOf(roomId);
    await checkServerAcl(hs, roomId, req.origin);
    if (serverNameOf(userId) !== req.origin) throw forbidden("The user is not on the requesting server");
    ctx.body = { event: await template(hs, rules, roomId, userId, "leave"), room_version: rules.id };
  });
  const sendLeave = async (ctx: Context) => {
    const req = await authenticate(ctx, hs, keys);
    const rules = await rulesOf(ctx.params.roomId);
    await checkServerAcl(hs, ctx.params.roomId, req.origin);
    const event = await acceptMembership(hs, req, rules, ctx.params.roomId, ctx.params.eventId, "leave");
    await sender.relay(event, req.origin);
  };
  router.put(`${V2}/send_leave/:roomId/:eventId`, async (ctx) => {
    await sendLeave(ctx);
    ctx.body = {};
  });
  router.put(`${V1}/send_leave/:roomId/:eventId`, async (ctx) => {
    await sendLeave(ctx);
    ctx.body = [200, {}];
  });

  // ---- knocks ----
  router.get(`${V1}/make_knock/:roomId/:userId`, async (ctx) => {
    const req = await authenticate(ctx, hs, keys);
    const { roomId, userId } = ctx.params;
    const rules = await rulesOf(roomId);
    await checkServerAcl(hs, roomId, req.origin);
    if (serverNameOf(userId) !== req.origin) throw forbidden("The user is not on the requesting server");
    const supported = ([] as unknown[]).concat(ctx.query.ver ?? ["1"]);
    if (!supported.includes(rules.id)) {
      throw new MatrixError(400, "M_INCOMPATIBLE_ROOM_VERSION", `Your server does not support room version ${rules.id}`, { room_version: rules.id });
    }
    ctx.body = { event: await template(hs, rules, roomId, userId, "knock"), room_version: rules.id };
  });
  router.put(`${V1}/send_knock/:roomId/:eventId`, async (ctx) => {
    const req = await authenticate(ctx, hs, keys);
    const rules = await rulesOf(ctx.params.roomId);
    await checkServerAcl(hs, ctx.params.roomId, req.origin);
    const event = await acceptMembership(hs, req, rules, ctx.params.roomId, ctx.params.eventId, "knock");
    await sender.relay(event, req.origin);
    ctx.body = { knock_room_state: await strippedStateOf(hs, ctx.params.roomId) };
  });

  // ---- invites: our user is invited to a room on another server; we countersign ----
  router.put(`${V2}/invite/:roomId/:eventId`, async (ctx) => {
    const req = await authenticate(ctx, hs, keys);
    const body = req.body;
    const version = typeof body.room_version === "string" ? body.room_version : "1";
    const rules = getRoomVersion(version);
    if (!rules) throw new MatrixError(400, "M_INCOMPATIBLE_ROOM_VERSION", `Unsupported room version ${version}`, { room_version: version });
    const pdu = body.event as PDU | undefined;
    if (typeof pdu !== "object" || pdu === null) throw badJson("event is required");
    ctx.body = { event: await receiveInvite(hs, req.origin, rules, ctx.params.roomId, ctx.params.eventId, pdu, body.invite_room_state) };
  });
}

/**
 * History visibility for a server: an event is shown whole only if the
 * server's users could see it (world_readable and shared history, or
 * invited/joined history with a user of that server invited/joined at the
 * event); otherwise it is sent redacted, so the DAG stays whole but the
 * content does not leak.
 */
export async function forServer(hs: ServerContext, events: RoomEvent[], server: string): Promise<JsonObject[]> {
  const stored = await hs.events.getEvents(events.map((e) => e.eventId));
  const snapshots = new Map<number, ReadonlyMap<string, string>>();
  const out: JsonObject[] = [];
  for (const ev of events) {
    const snap = stored.get(ev.eventId)?.stateSnapshot;
    let visible = true;
    if (snap !== null && snap !== undefined) {
      let state = snapshots.get(snap);
      if (!state) snapshots.set(snap, (state = await hs.states.getSnapshot(snap)));
      const visId = state.get(stateKey("m.room.history_visibility", ""));
      const vis = visId ? String((await hs.events.getEvent(visId))?.event.content.history_visibility ?? "shared") : "shared";
      if (vis === "invited" || vis === "joined") {
        const allowed = vis === "invited" ? ["join", "invite"] : ["join"];
        visible = false;
        const memberIds: string[] = [];
        for (const [k, id] of state) {
          if (k.startsWith("m.room.member\u0000") && k.endsWith(`:${server}`)) memberIds.push(id);
        }
        for (const m of (await hs.events.getEvents(memberIds)).values()) {
          if (allowed.includes(String(m.event.content.membership))) {
            visible = true;
            break;
          }
        }
      }
    }
    const rules = getRoomVersion(ev.roomVersion)!;
    out.push(visible ? wirePdu(ev) : (redactPdu(wirePdu(ev) as unknown as PDU, rules) as unknown as JsonObject));
  }
  return out;
}

/** Does `server` have a joined member in the room (or did it ever, for a world-readable room)? */
export async function serverHasMember(hs: ServerContext, roomId: string, server: string): Promise<boolean> {
  const rows: { user_id: string; membership: string }[] = await hs.db.knex("room_memberships").where({ room_id: roomId }).select("user_id", "membership");
  return rows.some((r) => r.membership === "join" && serverNameOf(r.user_id) === server);
}

/** Events before `from` (and `from` themselves), newest first, at most `limit`, stopping at `stop` and below `minDepth`. */
async function walkBack(hs: ServerContext, roomId: string, from: string[], limit: number, stop: ReadonlySet<string>, minDepth: number): Promise<RoomEvent[]> {
  const out: RoomEvent[] = [];
  const seen = new Set<string>();
  let frontier = from.filter((id) => !stop.has(id));
  while (frontier.length && out.length < limit) {
    const got = await hs.events.getEvents(frontier);
    const candidates = [...got.values()].filter((s) => s.event.roomId === roomId && !seen.has(s.event.eventId));
    candidates.sort((a, b) => b.event.depth - a.event.depth);
    const next: string[] = [];
    for (const s of candidates) {
      seen.add(s.event.eventId);
      if (s.event.depth < minDepth) continue;
      out.push(s.event);
      if (out.length >= limit) break;
      for (const p of s.event.prevEventIds) if (!seen.has(p) && !stop.has(p)) next.push(p);
    }
    frontier = [...new Set(next)];
  }
  return out;
}

/** A membership event template for a remote user (make_join, make_leave): built and checked here, unsigned. */
async function template(hs: ServerContext, rules: RoomVersionRules, roomId: string, userId: string, membership: string, extra: JsonObject = {}): Promise<JsonObject> {
  const extremities = await hs.events.forwardExtremities(roomId);
  let prepared;
  try {
    prepared = await hs.localEvents.prepare(rules, roomId, { type: "m.room.member", stateKey: userId, sender: userId, content: { ...extra, membership } }, extremities);
  } catch (err) {
    if (err instanceof AuthError) throw forbidden(`You are not allowed to ${membership} this room: ${err.message}`);
    throw err;
  }
  const { signatures: _s, hashes: _h, unsigned: _u, event_id: _id, ...tmpl } = prepared.event.pdu;
  return { ...tmpl, origin: hs.config.server_name } as JsonObject;
}


/** A signed join or leave from the user's server: checked and persisted like any remote event; it must be accepted. */
async function acceptMembership(hs: ServerContext, req: FederationRequest, rules: RoomVersionRules, roomId: string, eventId: string, membership: string): Promise<RoomEvent> {
  const pdu = req.body as unknown as PDU;
  const content = (pdu.content ?? {}) as JsonObject;
  if (pdu.type !== "m.room.member" || content.membership !== membership || pdu.state_key !== pdu.sender || pdu.room_id !== roomId) {
    throw badJson(`Expected a ${membership} event for the sender in this room`);
  }
  if (serverNameOf(String(pdu.sender)) !== req.origin) throw forbidden("The user is not on the requesting server");
  // A restricted join one of our users vouches for carries our signature too.
  const via = content.join_authorised_via_users_server;
  const signedPdu = membership === "join" && typeof via === "string" && serverNameOf(via) === hs.config.server_name
    ? signEvent(pdu, hs.config.server_name, hs.signingKey, rules)
    : pdu;
  let result;
  try {
    result = await hs.remoteEvents.receive(req.origin, signedPdu, rules);
  } catch (err) {
    if (err instanceof BadSignatureError || err instanceof EventFormatError) throw new MatrixError(400, "M_BAD_JSON", err.message);
    throw err;
  }
  if (result.event.eventId !== eventId) throw badJson("The event id does not match the path");
  if (result.outcome === "rejected" || result.outcome === "soft-failed") throw forbidden(`The ${membership} is not allowed`);
  return result.event;
}

/** Countersign an invite for one of our users, and remember it so their next /sync shows it. */
async function receiveInvite(hs: ServerContext, origin: string, rules: RoomVersionRules, roomId: string, eventId: string, pdu: PDU, inviteState: unknown): Promise<JsonObject> {
  const content = (pdu.content ?? {}) as JsonObject;
  if (pdu.type !== "m.room.member" || content.membership !== "invite" || pdu.room_id !== roomId || typeof pdu.state_key !== "string") {
    throw badJson("Expected an invite event");
  }
  if (serverNameOf(pdu.state_key) !== hs.config.server_name) throw forbidden("The invitee is not on this server");
  if (!(await hs.accounts.userExists(pdu.state_key))) throw notFound("Unknown user");
  let event: RoomEvent;
  try {
    event = await hs.remoteEvents.check(pdu, rules);
  } catch (err) {
    throw new MatrixError(400, "M_BAD_JSON", (err as Error).message);
  }
  if (event.eventId !== eventId) throw badJson("The event id does not match the path");
  if (serverNameOf(event.sender) !== origin) throw forbidden("The inviter is not on the requesting server");
  const signed = signEvent(event.pdu, hs.config.server_name, hs.signingKey, rules);
  const stripped = Array.isArray(inviteState) ? inviteState.filter((e): e is JsonObject => typeof e === "object" && e !== null) : [];
  await hs.remoteInvites.store({ ...event, pdu: signed }, stripped);
  return signed as JsonObject;
}
