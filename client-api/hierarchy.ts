/** GET /_matrix/client/v1/rooms/{roomId}/hierarchy: the rooms of a space (src/rooms/hierarchy.ts). */
import type Router from "@koa/router";
import type { Context } from "koa";
import type { ServerContext } from "../src/context.js";
import { requireUser } from "../src/http/auth.js";
import { invalidParam } from "../src/http/errors.js";
import { SpaceHierarchy } from "../src/rooms/hierarchy.js";

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 100;
const DEFAULT_DEPTH = 50;

function single(ctx: Context, key: string): string | undefined {
  const v = ctx.query[key];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw invalidParam(`${key} must be given once`);
  return v;
}

function integerParam(ctx: Context, key: string, fallback: number, min: number, max: number): number {
  const v = single(ctx, key);
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v) || Number(v) < min) throw invalidParam(`${key} must be an integer of at least ${min}`);
  return Math.min(Number(v), max);
}

export function registerHierarchy(router: Router, hs: ServerContext): void {
  const hierarchy = new SpaceHierarchy(hs);

  router.get("/_matrix/client/v1/rooms/:roomId/hierarchy", async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const suggested = single(ctx, "suggested_only");
    if (suggested !== undefined && suggested !== "true" && suggested !== "false") throw invalidParam("suggested_only must be true or false");
    ctx.body = await hierarchy.walk(me.userId, ctx.params.roomId, {
      suggestedOnly: suggested === "true",
      // Deeper than this is cut (the spec asks servers to cap it); the cap is also the default.
      maxDepth: integerParam(ctx, "max_depth", DEFAULT_DEPTH, 0, DEFAULT_DEPTH),
      limit: integerParam(ctx, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
      from: single(ctx, "from"),
    });
  });
}
