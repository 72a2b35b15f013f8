/**
 * GET /_matrix/client/versions: the spec versions this server implements.
 * Listed honestly: a client uses this to decide which endpoints to call.
 */
import type Router from "@koa/router";

/** Spec releases whose Client-Server API we serve. Grows as the API does. */
export const SUPPORTED_VERSIONS = ["v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10", "v1.11"];

export function registerVersions(router: Router): void {
  router.get("/_matrix/client/versions", (ctx) => {
    ctx.body = { versions: SUPPORTED_VERSIONS, unstable_features: {} };
  });
}
