/**
 * End-to-end keys: upload, query, claim, changes, cross-signing keys and
 * signatures. The server checks shapes and signatures and relays; it never
 * holds anything that decrypts.
 */
import type Router from "@koa/router";
import type { ServerContext } from "../src/context.js";
import { deviceListChanges } from "../src/e2ee/device-lists.js";
import { KeyDirectory } from "../src/e2ee/keys.js";
import { requireUser } from "../src/http/auth.js";
import { readJsonObject } from "../src/http/body.js";
import { MatrixError, badJson } from "../src/http/errors.js";
import { optionalObject } from "../src/http/params.js";
import { isValidUserId } from "../src/room/identifiers.js";
import type { JsonObject } from "../src/room/types.js";
import { parseSyncToken } from "../src/sync/tokens.js";
import { confirmUser, type InteractiveAuth } from "./uia.js";

const PREFIX = "/_matrix/client/v3";

export function registerKeys(router: Router, hs: ServerContext, uia: InteractiveAuth): void {
  const limit = hs.config.max_request_body_bytes;
  const keys = new KeyDirectory(hs);

  router.post(`${PREFIX}/keys/upload`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, limit);
    ctx.body = { one_time_key_counts: await keys.upload(me.userId, me.deviceId, body as JsonObject) };
  });

  router.post(`${PREFIX}/keys/query`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, limit);
    const wanted = optionalObject(body, "device_keys");
    if (!wanted) throw new MatrixError(400, "M_MISSING_PARAM", "Missing device_keys");
    const request = new Map<string, string[]>();
    for (const [userId, devices] of Object.entries(wanted)) {
      if (!Array.isArray(devices) || !devices.every((d) => typeof d === "string")) throw badJson(`device_keys.${userId} must be a list of device ids`);
      if (isValidUserId(userId)) request.set(userId, devices as string[]);
    }
    const answer = await keys.query(me.userId, request);
    // Users on other servers need federation, which this server does not speak yet: report them as failed.
    const failures: JsonObject = {};
    for (const userId of request.keys()) {
      const server = userId.slice(userId.indexOf(":") + 1);
      if (server !== hs.config.server_name) failures[server] = { errcode: "M_UNRECOGNIZED", error: "Federation is not available" };
    }
    ctx.body = { ...answer, failures };
  });

  router.post(`${PREFIX}/keys/claim`, async (ctx) => {
    await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, limit);
    const wanted = optionalObject(body, "one_time_keys");
    if (!wanted) throw new MatrixError(400, "M_MISSING_PARAM", "Missing one_time_keys");
    const request = new Map<string, Map<string, string>>();
    const failures: JsonObject = {};
    for (const [userId, devices] of Object.entries(wanted)) {
      if (typeof devices !== "object" || devices === null || Array.isArray(devices)) throw badJson(`one_time_keys.${userId} must be an object`);
      const perDevice = new Map<string, string>();
      for (const [deviceId, algorithm] of Object.entries(devices)) {
        if (typeof algorithm !== "string") throw badJson(`one_time_keys.${userId}.${deviceId} must be an algorithm name`);
        perDevice.set(deviceId, algorithm);
      }
      if (!isValidUserId(userId)) continue;
      const server = userId.slice(userId.indexOf(":") + 1);
      if (server !== hs.config.server_name) failures[server] = { errcode: "M_UNRECOGNIZED", error: "Federation is not available" };
      else request.set(userId, perDevice);
    }
    ctx.body = { one_time_keys: await keys.claim(request), failures };
  });

  router.get(`${PREFIX}/keys/changes`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const { from, to } = ctx.query;
    if (typeof from !== "string" || typeof to !== "string") throw new MatrixError(400, "M_MISSING_PARAM", "from and to are required");
    const a = parseSyncToken(from);
    const b = parseSyncToken(to);
    ctx.body = await deviceListChanges(hs, me.userId, {
      fromEvents: a.events, toEvents: b.events, fromDevices: a.deviceLists, toDevices: Math.min(b.deviceLists, hs.deviceLists.stream.position),
    });
  });

  router.post(`${PREFIX}/keys/device_signing/upload`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, limit);
    if (await keys.crossSigningUploadNeedsAuth(me.userId, body as JsonObject)) {
      await confirmUser(uia, hs, "device_signing", me.userId, body);
    }
    const { auth: _auth, ...keysOnly } = body;
    await keys.uploadCrossSigning(me.userId, keysOnly as JsonObject);
    ctx.body = {};
  });

  router.post(`${PREFIX}/keys/signatures/upload`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, limit);
    ctx.body = { failures: await keys.uploadSignatures(me.userId, body as JsonObject) };
  });
}
