/**
 * GET /v1/rooms/{roomId}/threads: the room's thread roots by latest
 * activity, each with its bundled aggregations (src/relations/pages.ts).
 * The token is `t<N>`: the next page lists threads whose latest reply is
 * below position N.
 */
import type Router from "@koa/router";
import type { Context } from "koa";
import type { ServerContext } from "../src/context.js";
import { requireUser } from "../src/http/auth.js";
import { invalidParam } from "../src/http/errors.js";
import { RelationAggregator } from "../src/relations/aggregations.js";
import { RelationPages } from "../src/relations/pages.js";
import { RoomAccess } from "../src/rooms/access.js";
import { RoomClientStore } from "../src/rooms/room-data.js";
import type { JsonObject } from "../src/room/types.js";
import { RelationStore } from "../src/storage/relation-store.js";

const DEFAULT_LIMIT = 5;
const MAX_LIMIT = 100;

function queryString(ctx: Context, key: string): string | undefined {
  const v = ctx.query[key];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw invalidParam(`${key} must be given once`);
  return v;
}

export function formatThreadsToken(position: number): string {
  return `t${position}`;
}

export function parseThreadsToken(token: string): number {
  const m = /^t(-?\d{1,16})$/.exec(token);
  if (!m) throw invalidParam("Unknown pagination token");
  return Number(m[1]);
}

export function registerThreads(router: Router, hs: ServerContext): void {
  const store = new RelationStore(hs.db);
  const access = new RoomAccess(hs, new RoomClientStore(hs.db));
  const pages = new RelationPages(hs, store, access, new RelationAggregator(hs, store));

  router.get("/_matrix/client/v1/rooms/:roomId/threads", async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const include = queryString(ctx, "include") ?? "all";
    if (include !== "all" && include !== "participated") throw invalidParam("include must be all or participated");
    const limitRaw = queryString(ctx, "limit");
    if (limitRaw !== undefined && (!/^\d+$/.test(limitRaw) || Number(limitRaw) === 0)) throw invalidParam("limit must be an integer greater than zero");
    const limit = limitRaw === undefined ? DEFAULT_LIMIT : Math.min(Number(limitRaw), MAX_LIMIT);
    const fromRaw = queryString(ctx, "from");
    const before = fromRaw === undefined ? Number.MAX_SAFE_INTEGER : parseThreadsToken(fromRaw);
    const page = await pages.threads(me.userId, { roomId: ctx.params.roomId, participated: include === "participated", before, limit });
    const body: JsonObject = { chunk: page.chunk };
    if (page.next !== undefined) body.next_batch = formatThreadsToken(page.next);
    ctx.body = body;
  });
}
