/**
 * What the server tells clients about itself: /versions, /capabilities,
 * /.well-known/matrix/client.
 */
import type Router from "@koa/router";
import type { ServerContext } from "../src/context.js";
import { requireUser } from "../src/http/auth.js";
import { ROOM_VERSIONS } from "../src/room/versions.js";

/**
 * Spec releases whose Client-Server API we serve. Clients (Element) use
 * this to pick endpoints; the list grows with the API.
 */
export const SUPPORTED_VERSIONS = ["v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10", "v1.11"];

export function registerServerInfo(router: Router, hs: ServerContext): void {
  router.get("/_matrix/client/versions", (ctx) => {
    // Dehydrated devices (MSC3814), as Element probes for them.
    ctx.body = { versions: SUPPORTED_VERSIONS, unstable_features: { "org.matrix.msc3814": true } };
  });

  router.get("/_matrix/client/v3/capabilities", async (ctx) => {
    await requireUser(ctx, hs.accounts);
    const available: Record<string, "stable" | "unstable"> = {};
    for (const [id, rules] of ROOM_VERSIONS) available[id] = rules.stable ? "stable" : "unstable";
    ctx.body = {
      capabilities: {
        "m.change_password": { enabled: true },
        "m.room_versions": { default: hs.config.default_room_version, available },
        "m.set_displayname": { enabled: true },
        "m.set_avatar_url": { enabled: true },
        "m.3pid_changes": { enabled: false },
        "m.get_login_token": { enabled: true },
      },
    };
  });

  router.get("/.well-known/matrix/client", (ctx) => {
    const base = hs.config.public_baseurl || `http://${hs.config.bind_address}:${hs.config.port}`;
    ctx.body = { "m.homeserver": { base_url: base } };
  });
}
