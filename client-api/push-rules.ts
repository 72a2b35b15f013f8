/** GET /pushrules/ and /pushrules/global/: the ruleset clients read before they sync. */
import type Router from "@koa/router";
import type { ServerContext } from "../src/context.js";
import { requireUser } from "../src/http/auth.js";
import { defaultPushRules } from "../src/push/default-rules.js";

export function registerPushRules(router: Router, hs: ServerContext): void {
  router.get("/_matrix/client/v3/pushrules/", async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    ctx.body = { global: defaultPushRules(me.userId) };
  });
  router.get("/_matrix/client/v3/pushrules/global/", async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    ctx.body = defaultPushRules(me.userId);
  });
}
