/** Dehydrated devices under MSC3814's unstable prefix (src/e2ee/dehydrated-devices.ts). */
import type Router from "@koa/router";
import type { ServerContext } from "../src/context.js";
import { DehydratedDevices } from "../src/e2ee/dehydrated-devices.js";
import { requireUser } from "../src/http/auth.js";
import { readJsonObject } from "../src/http/body.js";
import type { JsonObject } from "../src/room/types.js";

const PREFIX = "/_matrix/client/unstable/org.matrix.msc3814.v1";

export function registerDehydratedDevice(router: Router, hs: ServerContext): void {
  const devices = new DehydratedDevices(hs);
  const limit = hs.config.max_request_body_bytes;

  router.put(`${PREFIX}/dehydrated_device`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    ctx.body = await devices.replace(me.userId, (await readJsonObject(ctx, limit)) as JsonObject);
  });
  router.get(`${PREFIX}/dehydrated_device`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    ctx.body = await devices.get(me.userId);
  });
  router.delete(`${PREFIX}/dehydrated_device`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    ctx.body = await devices.delete(me.userId);
  });
  router.post(`${PREFIX}/dehydrated_device/:deviceId/events`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    ctx.body = await devices.events(me.userId, ctx.params.deviceId, (await readJsonObject(ctx, limit)) as JsonObject);
  });
}
