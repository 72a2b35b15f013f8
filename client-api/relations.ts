/**
 * GET /v1/rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]]:
 * an event's children, newest first (or oldest first with dir=f), with
 * bundled aggregations. Tokens are room positions (`s<N>`), so /messages
 * and /sync tokens serve as `from` and `to` too. The paging itself is in
 * src/relations/pages.ts.
 */
import type Router from "@koa/router";
import type { Context } from "koa";
import type { ServerContext } from "../src/context.js";
import { requireUser } from "../src/http/auth.js";
import { invalidParam } from "../src/http/errors.js";
import { RelationAggregator } from "../src/relations/aggregations.js";
import { RECURSION_DEPTH, RelationPages } from "../src/relations/pages.js";
import { RoomAccess } from "../src/rooms/access.js";
import { RoomClientStore } from "../src/rooms/room-data.js";
import type { JsonObject } from "../src/room/types.js";
import { RelationStore } from "../src/storage/relation-store.js";
import { formatRoomPosition, parseRoomPosition } from "../src/sync/tokens.js";

const PREFIX = "/_matrix/client/v1/rooms/:roomId/relations/:eventId";
/** As Synapse: small pages unless asked. */
const DEFAULT_LIMIT = 5;
const MAX_LIMIT = 1000;

function queryString(ctx: Context, key: string): string | undefined {
  const v = ctx.query[key];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw invalidParam(`${key} must be given once`);
  return v;
}

export function registerRelations(router: Router, hs: ServerContext): void {
  const store = new RelationStore(hs.db);
  const access = new RoomAccess(hs, new RoomClientStore(hs.db));
  const pages = new RelationPages(hs, store, access, new RelationAggregator(hs, store));

  const handle = async (ctx: Context, relType?: string, eventType?: string) => {
    const me = await requireUser(ctx, hs.accounts);
    const dir = queryString(ctx, "dir") ?? "b";
    if (dir !== "b" && dir !== "f") throw invalidParam("dir must be b or f");
    const limitRaw = queryString(ctx, "limit");
    if (limitRaw !== undefined && !/^\d+$/.test(limitRaw)) throw invalidParam("limit must be a non-negative integer");
    const limit = limitRaw === undefined ? DEFAULT_LIMIT : Math.min(Number(limitRaw), MAX_LIMIT);
    const recurseRaw = queryString(ctx, "recurse");
    if (recurseRaw !== undefined && recurseRaw !== "true" && recurseRaw !== "false") throw invalidParam("recurse must be true or false");
    const recurse = recurseRaw === "true";
    const fromRaw = queryString(ctx, "from");
    const toRaw = queryString(ctx, "to");
    // Without `from`, backwards starts at the newest event, forwards before the oldest (backfilled history is below 0).
    const from = fromRaw !== undefined ? parseRoomPosition(fromRaw) : dir === "b" ? hs.eventStream.position : Number.MIN_SAFE_INTEGER;
    const to = toRaw !== undefined ? parseRoomPosition(toRaw) : undefined;
    const page = await pages.children(me.userId, {
      roomId: ctx.params.roomId, eventId: ctx.params.eventId, relType, eventType, dir, from, to, limit, recurse,
    });
    const body: JsonObject = { chunk: page.chunk };
    if (page.next !== undefined) body.next_batch = formatRoomPosition(page.next);
    if (fromRaw !== undefined) body.prev_batch = fromRaw;
    // Present exactly when the client gave `recurse`: how deep the server looked.
    if (recurseRaw !== undefined) body.recursion_depth = recurse ? RECURSION_DEPTH : 1;
    ctx.body = body;
  };

  router.get(PREFIX, (ctx) => handle(ctx));
  router.get(`${PREFIX}/:relType`, (ctx) => handle(ctx, ctx.params.relType));
  router.get(`${PREFIX}/:relType/:eventType`, (ctx) => handle(ctx, ctx.params.relType, ctx.params.eventType));
}
