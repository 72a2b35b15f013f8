/** GET/PUT /presence/{userId}/status. */
import type Router from "@koa/router";
import type { ServerContext } from "../src/context.js";
import { serverNameOf } from "../src/room/identifiers.js";
import { PRESENCE_STATES, type PresenceState } from "../src/ephemeral/presence.js";
import { requireUser } from "../src/http/auth.js";
import { readJsonObject } from "../src/http/body.js";
import { MatrixError, forbidden, notFound } from "../src/http/errors.js";
import { optionalString } from "../src/http/params.js";

export function registerPresence(router: Router, hs: ServerContext): void {
  router.put("/_matrix/client/v3/presence/:userId/status", async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, hs.config.max_request_body_bytes);
    if (ctx.params.userId !== me.userId) throw forbidden("You may only set your own presence");
    const presence = optionalString(body, "presence");
    if (presence === undefined || !PRESENCE_STATES.has(presence)) {
      throw new MatrixError(400, "M_INVALID_PARAM", "presence must be online, unavailable or offline");
    }
    hs.presence.set(me.userId, presence as PresenceState, optionalString(body, "status_msg"));
    ctx.body = {};
  });

  router.get("/_matrix/client/v3/presence/:userId/status", async (ctx) => {
    await requireUser(ctx, hs.accounts);
    const userId = ctx.params.userId;
    // Another server's user: what their server last told us (their m.presence EDUs), offline if nothing.
    const local = serverNameOf(userId) === hs.config.server_name;
    if (local && !(await hs.accounts.userExists(userId))) throw notFound("Unknown user");
    ctx.body = hs.presence.content(hs.presence.get(userId));
  });
}
