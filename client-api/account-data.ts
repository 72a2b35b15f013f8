/**
 * Account data and room tags: /user/{userId}/account_data/{type},
 * /user/{userId}/rooms/{roomId}/account_data/{type} and .../tags.
 * Tags are the room account data of type m.tag, as /sync shows them.
 */
import type Router from "@koa/router";
import type { Context } from "koa";
import type { ServerContext } from "../src/context.js";
import { requireUser } from "../src/http/auth.js";
import { readJsonObject } from "../src/http/body.js";
import { MatrixError, forbidden, notFound } from "../src/http/errors.js";
import type { JsonObject } from "../src/room/types.js";

const PREFIX = "/_matrix/client/v3/user/:userId";
/** Types the server maintains itself; clients change them through their own endpoints. */
const SERVER_CONTROLLED = new Set(["m.fully_read", "m.push_rules"]);
const MAX_TAG_BYTES = 255;

export function registerAccountData(router: Router, hs: ServerContext): void {
  const limit = hs.config.max_request_body_bytes;
  const self = async (ctx: Context) => {
    const me = await requireUser(ctx, hs.accounts);
    if (ctx.params.userId !== me.userId) throw forbidden("Cannot access account data of other users");
    return me;
  };
  const put = async (ctx: Context, roomId: string | null) => {
    const me = await self(ctx);
    const content = await readJsonObject(ctx, limit);
    if (SERVER_CONTROLLED.has(ctx.params.type)) {
      throw new MatrixError(405, "M_BAD_JSON", `Cannot set ${ctx.params.type} through this API`);
    }
    await hs.accountData.put(me.userId, roomId, ctx.params.type, content as JsonObject);
    ctx.body = {};
  };
  const get = async (ctx: Context, roomId: string | null) => {
    const me = await self(ctx);
    const content = await hs.accountData.get(me.userId, roomId, ctx.params.type);
    if (content === undefined) throw notFound("No account data of that type");
    ctx.body = content;
  };

  router.put(`${PREFIX}/account_data/:type`, (ctx) => put(ctx, null));
  router.get(`${PREFIX}/account_data/:type`, (ctx) => get(ctx, null));
  router.put(`${PREFIX}/rooms/:roomId/account_data/:type`, (ctx) => put(ctx, ctx.params.roomId));
  router.get(`${PREFIX}/rooms/:roomId/account_data/:type`, (ctx) => get(ctx, ctx.params.roomId));

  const tagsOf = async (userId: string, roomId: string): Promise<Record<string, JsonObject>> => {
    const content = await hs.accountData.get(userId, roomId, "m.tag");
    const tags = content?.tags;
    return typeof tags === "object" && tags !== null && !Array.isArray(tags) ? (tags as Record<string, JsonObject>) : {};
  };

  router.get(`${PREFIX}/rooms/:roomId/tags`, async (ctx) => {
    const me = await self(ctx);
    ctx.body = { tags: await tagsOf(me.userId, ctx.params.roomId) };
  });

  router.put(`${PREFIX}/rooms/:roomId/tags/:tag`, async (ctx) => {
    const me = await self(ctx);
    const body = await readJsonObject(ctx, limit);
    if (Buffer.byteLength(ctx.params.tag) > MAX_TAG_BYTES) throw new MatrixError(400, "M_INVALID_PARAM", "Tag is too long");
    if (body.order !== undefined && (typeof body.order !== "number" || body.order < 0 || body.order > 1)) {
      throw new MatrixError(400, "M_INVALID_PARAM", "order must be a number from 0 to 1");
    }
    const tags = await tagsOf(me.userId, ctx.params.roomId);
    tags[ctx.params.tag] = body as JsonObject;
    await hs.accountData.put(me.userId, ctx.params.roomId, "m.tag", { tags });
    ctx.body = {};
  });

  router.delete(`${PREFIX}/rooms/:roomId/tags/:tag`, async (ctx) => {
    const me = await self(ctx);
    const tags = await tagsOf(me.userId, ctx.params.roomId);
    if (ctx.params.tag in tags) {
      delete tags[ctx.params.tag];
      await hs.accountData.put(me.userId, ctx.params.roomId, "m.tag", { tags });
    }
    ctx.body = {};
  });
}
