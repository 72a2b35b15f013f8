/**
 * Room aliases: PUT/GET/DELETE /directory/room/{roomAlias} and
 * GET /rooms/{roomId}/aliases. Aliases of other servers are resolved over
 * federation once it exists; until then they are not found.
 */
import type Router from "@koa/router";
import type { ServerContext } from "../src/context.js";
import { requireUser } from "../src/http/auth.js";
import { readJsonObject } from "../src/http/body.js";
import { MatrixError, forbidden, notFound } from "../src/http/errors.js";
import { requireString } from "../src/http/params.js";
import { isValidRoomAlias, serverNameOf } from "../src/room/identifiers.js";

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
    const row = await hs.aliases.get(alias);
    if (!row) throw notFound("Room alias not found");
    ctx.body = { room_id: row.roomId, servers: [serverName] };
  });

  router.delete(`${PREFIX}/directory/room/:roomAlias`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const alias = parseAlias(ctx.params.roomAlias);
    const row = await hs.aliases.get(alias);
    if (!row) throw notFound("Room alias not found");
    const admin = (await hs.accounts.getUser(me.userId))?.admin ?? false;
    if (row.creator !== me.userId && !admin) throw forbidden("Only the alias's creator or a server admin may delete it");
    await hs.aliases.delete(alias);
    ctx.body = {};
  });

  router.get(`${PREFIX}/rooms/:roomId/aliases`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    if ((await hs.states.membershipOf(ctx.params.roomId, me.userId)) !== "join") throw forbidden("You are not joined to this room");
    ctx.body = { aliases: await hs.aliases.forRoom(ctx.params.roomId) };
  });
}
