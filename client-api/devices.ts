/**
 * Device management: list, read and rename a user's devices; delete them
 * (behind user-interactive auth), which ends their sessions and removes
 * their keys and waiting messages, and tells their contacts.
 */
import type Router from "@koa/router";
import type { ServerContext } from "../src/context.js";
import { requireUser } from "../src/http/auth.js";
import { readJsonObject } from "../src/http/body.js";
import { badJson, notFound } from "../src/http/errors.js";
import { optionalString } from "../src/http/params.js";
import type { Device } from "../src/storage/account-store.js";
import { confirmUser, type InteractiveAuth } from "./uia.js";

const PREFIX = "/_matrix/client/v3";

function deviceBody(d: Device): Record<string, unknown> {
  return {
    device_id: d.deviceId,
    display_name: d.displayName ?? undefined,
    last_seen_ts: d.lastSeenTs ?? undefined,
    last_seen_ip: d.lastSeenIp ?? undefined,
  };
}

export function registerDevices(router: Router, hs: ServerContext, uia: InteractiveAuth): void {
  const limit = hs.config.max_request_body_bytes;

  router.get(`${PREFIX}/devices`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    ctx.body = { devices: (await hs.accounts.devices(me.userId)).map((d) => deviceBody(d)) };
  });

  router.get(`${PREFIX}/devices/:deviceId`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const device = await hs.accounts.device(me.userId, ctx.params.deviceId);
    if (!device) throw notFound("No such device");
    ctx.body = deviceBody(device);
  });

  router.put(`${PREFIX}/devices/:deviceId`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, limit);
    const name = optionalString(body, "display_name");
    const device = await hs.accounts.device(me.userId, ctx.params.deviceId);
    if (!device) throw notFound("No such device");
    if (name !== undefined && name !== device.displayName) {
      await hs.accounts.renameDevice(me.userId, device.deviceId, name);
      // The name travels with the device keys (unsigned.device_display_name): watchers re-query.
      await hs.deviceLists.record(me.userId);
    }
    ctx.body = {};
  });

  router.delete(`${PREFIX}/devices/:deviceId`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, limit);
    const device = await hs.accounts.device(me.userId, ctx.params.deviceId);
    if (!device) throw notFound("No such device");
    await confirmUser(uia, hs, `delete_device:${device.deviceId}`, me.userId, body);
    await hs.accounts.deleteDevices(me.userId, [device.deviceId]);
    ctx.body = {};
  });

  router.post(`${PREFIX}/delete_devices`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, limit);
    const ids = body.devices;
    if (!Array.isArray(ids) || !ids.every((d) => typeof d === "string")) throw badJson("devices must be a list of device ids");
    await confirmUser(uia, hs, `delete_devices:${[...ids].sort().join(",")}`, me.userId, body);
    await hs.accounts.deleteDevices(me.userId, ids as string[]);
    ctx.body = {};
  });
}
