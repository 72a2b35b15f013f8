/**
 * The room directory: aliases (PUT/GET/DELETE /directory/room/{roomAlias},
 * GET /rooms/{roomId}/aliases), a room's listing in the public directory
 * (/directory/list/room/{roomId}) and the public room list (/publicRooms).
 * Aliases and directories of other servers are asked of those servers.
 */
import type Router from "@koa/router";
import type { ServerContext } from "../src/context.js";
import { requireUser } from "../src/http/auth.js";
import { readJsonObject } from "../src/http/body.js";
import { MatrixError, forbidden, notFound } from "../src/http/errors.js";
import { optionalObject, optionalString, requireString } from "../src/http/params.js";
import { isValidRoomAlias, serverNameOf } from "../src/room/identifiers.js";
import { powerLevelsOf, requiredLevelIn, userPowerLevel } from "../src/room/power-levels.js";
import { RoomClientStore } from "../src/rooms/room-data.js";
import { stateKey, type JsonObject } from "../src/room/types.js";
import { publicRooms, serversOfRoom } from "../src/rooms/public-rooms.js";

const PREFIX = "/_matrix/client/v3";

export function registerDirectory(router: Router, hs: ServerContext): void {
  const serverName = hs.config.server_name;

  const parseAlias = (raw: string): string => {
    if (!isValidRoomAlias(raw)) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid room alias");
    return raw;
  };

  router.put(`${PREFIX}/directory/room/:roomAlias`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, hs.config.max_request_body_bytes);
    const alias = parseAlias(ctx.params.roomAlias);
    const roomId = requireString(body, "room_id");
    if (serverNameOf(alias) !== serverName) throw new MatrixError(400, "M_INVALID_PARAM", "Alias must be on this server");
    if (!(await hs.rooms.get(roomId))) throw notFound("Unknown room");
    if (!(await hs.aliases.create(alias, roomId, me.userId))) throw new MatrixError(409, "M_UNKNOWN", "Room alias already exists");
    ctx.body = {};
  });

  router.get(`${PREFIX}/directory/room/:roomAlias`, async (ctx) => {
    const alias = parseAlias(ctx.params.roomAlias);
    if (serverNameOf(alias) !== serverName) {
      const remote = await hs.remote.resolveAlias(alias);
      ctx.body = { room_id: remote.roomId, servers: remote.servers };
      return;
    }
    const row = await hs.aliases.get(alias);
    if (!row) throw notFound("Room alias not found");
    ctx.body = { room_id: row.roomId, servers: await serversOfRoom(hs, row.roomId) };
  });

  // Room moderators: joined, with the power to set the room's canonical alias.
  const maySetCanonicalAlias = async (roomId: string, userId: string): Promise<boolean> => {
    if ((await hs.states.membershipOf(roomId, userId)) !== "join") return false;
    const rules = await hs.localEvents.rulesOf(roomId);
    const current = await hs.states.currentState(roomId);
    const lookup = await hs.stateReader.authLookup(current, [["m.room.create", ""], ["m.room.power_levels", ""]]);
    return userPowerLevel(lookup, userId, rules) >= requiredLevelIn(powerLevelsOf(lookup, rules), "m.room.canonical_alias", "");
  };

  // A deleted alias no longer names the room: it leaves the canonical alias event too, sent by the deleter when they may (else left as it is).
  const dropFromCanonicalAlias = async (roomId: string, alias: string, userId: string): Promise<void> => {
    const id = (await hs.states.currentState(roomId)).get(stateKey("m.room.canonical_alias", ""));
    const current = id === undefined ? undefined : (await hs.events.getEvent(id))?.event.content;
    if (!current) return;
    const alt = Array.isArray(current.alt_aliases) ? current.alt_aliases : undefined;
    if (current.alias !== alias && !alt?.includes(alias)) return;
    const content: JsonObject = { ...current };
    if (content.alias === alias) delete content.alias;
    if (alt) content.alt_aliases = alt.filter((a) => a !== alias);
    try {
      await hs.localEvents.send(roomId, { type: "m.room.canonical_alias", stateKey: "", sender: userId, content });
    } catch (err) {
      hs.log.info("canonical alias left as it was after an alias was deleted", { roomId, alias, err: String(err) });
    }
  };

  router.delete(`${PREFIX}/directory/room/:roomAlias`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const alias = parseAlias(ctx.params.roomAlias);
    const row = await hs.aliases.get(alias);
    if (!row) throw notFound("Room alias not found");
    const admin = (await hs.accounts.getUser(me.userId))?.admin ?? false;
    if (row.creator !== me.userId && !admin && !(await maySetCanonicalAlias(row.roomId, me.userId))) {
      throw forbidden("Only the alias's creator, a room moderator or a server admin may delete it");
    }
    await hs.aliases.delete(alias);
    await dropFromCanonicalAlias(row.roomId, alias, me.userId);
    ctx.body = {};
  });

  router.get(`${PREFIX}/rooms/:roomId/aliases`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    if ((await hs.states.membershipOf(ctx.params.roomId, me.userId)) !== "join") throw forbidden("You are not joined to this room");
    ctx.body = { aliases: await hs.aliases.forRoom(ctx.params.roomId) };
  });

  const rooms = new RoomClientStore(hs.db);

  router.get(`${PREFIX}/directory/list/room/:roomId`, async (ctx) => {
    if (!(await hs.rooms.get(ctx.params.roomId))) throw notFound("Unknown room");
    ctx.body = { visibility: await rooms.visibility(ctx.params.roomId) };
  });

  router.put(`${PREFIX}/directory/list/room/:roomId`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, hs.config.max_request_body_bytes);
    const visibility = optionalString(body, "visibility") ?? "public";
    if (visibility !== "public" && visibility !== "private") throw new MatrixError(400, "M_INVALID_PARAM", "visibility must be public or private");
    const roomId = ctx.params.roomId;
    if (!(await hs.rooms.get(roomId))) throw notFound("Unknown room");
    // Who may publish a room: a joined member allowed to set its canonical alias (room moderators), or a server admin.
    const admin = (await hs.accounts.getUser(me.userId))?.admin ?? false;
    if (!admin) {
      if ((await hs.states.membershipOf(roomId, me.userId)) !== "join") throw forbidden("You are not joined to this room");
      const rules = await hs.localEvents.rulesOf(roomId);
      const current = await hs.states.currentState(roomId);
      const lookup = await hs.stateReader.authLookup(current, [["m.room.create", ""], ["m.room.power_levels", ""]]);
      const needed = requiredLevelIn(powerLevelsOf(lookup, rules), "m.room.canonical_alias", "");
      if (userPowerLevel(lookup, me.userId, rules) < needed) throw forbidden("You may not change this room's directory listing");
    }
    await rooms.setVisibility(roomId, visibility);
    ctx.body = {};
  });

  const listPublicRooms = async (limit: number | undefined, since: string | undefined, filter: Record<string, unknown> | undefined, server: string | undefined) => {
    if (server !== undefined && server !== serverName) return hs.remote.publicRooms(server, { limit, since, filter });
    return publicRooms(hs, rooms, limit, since, filter);
  };

  const limitParam = (v: unknown): number | undefined => {
    if (v === undefined) return undefined;
    const n = typeof v === "number" ? v : typeof v === "string" && /^\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isInteger(n) || n < 0) throw new MatrixError(400, "M_INVALID_PARAM", "limit must be a non-negative integer");
    return n;
  };

  router.get(`${PREFIX}/publicRooms`, async (ctx) => {
    const q = ctx.query;
    ctx.body = await listPublicRooms(
      limitParam(q.limit),
      typeof q.since === "string" ? q.since : undefined,
      undefined,
      typeof q.server === "string" ? q.server : undefined,
    );
  });

  router.post(`${PREFIX}/publicRooms`, async (ctx) => {
    await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, hs.config.max_request_body_bytes);
    const filter = optionalObject(body, "filter");
    ctx.body = await listPublicRooms(
      limitParam(body.limit),
      optionalString(body, "since"),
      filter,
      typeof ctx.query.server === "string" ? ctx.query.server : undefined,
    );
  });
}
