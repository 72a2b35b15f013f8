/**
 * Registration tokens for server admins, as Synapse's admin API offers
 * them: POST /_synapse/admin/v1/registration_tokens/new and GET the list.
 */
import type Router from "@koa/router";
import type { Context } from "koa";
import type { ServerContext } from "../../src/context.js";
import { requireUser } from "../../src/http/auth.js";
import { readJsonObject } from "../../src/http/body.js";
import { MatrixError, forbidden } from "../../src/http/errors.js";
import { optionalString } from "../../src/http/params.js";
import { isUniqueViolation } from "../../src/storage/database.js";

const PATH = "/_synapse/admin/v1/registration_tokens";

export function registerRegistrationTokenAdmin(router: Router, hs: ServerContext): void {
  const requireAdmin = async (ctx: Context) => {
    const me = await requireUser(ctx, hs.accounts);
    if (!(await hs.accounts.getUser(me.userId))?.admin) throw forbidden("You are not a server admin");
  };

  router.get(PATH, async (ctx) => {
    await requireAdmin(ctx);
    ctx.body = { registration_tokens: await hs.registrationTokens.list() };
  });

  router.post(`${PATH}/new`, async (ctx) => {
    await requireAdmin(ctx);
    const body = await readJsonObject(ctx, hs.config.max_request_body_bytes);
    const token = optionalString(body, "token");
    if (token !== undefined && !/^[A-Za-z0-9._~-]{1,64}$/.test(token)) throw new MatrixError(400, "M_INVALID_PARAM", "token may use A-Z a-z 0-9 . _ ~ - (at most 64)");
    const count = (key: string): number | null => {
      const v = body[key];
      if (v === undefined || v === null) return null;
      if (typeof v !== "number" || !Number.isInteger(v) || v < 0) throw new MatrixError(400, "M_INVALID_PARAM", `${key} must be a non-negative integer`);
      return v;
    };
    try {
      ctx.body = await hs.registrationTokens.create({ token, usesAllowed: count("uses_allowed"), expiryTime: count("expiry_time") });
    } catch (err) {
      if (isUniqueViolation(err)) throw new MatrixError(400, "M_INVALID_PARAM", "That token already exists");
      throw err;
    }
  });
}
