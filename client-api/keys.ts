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
import { isValidUserId, serverNameOf } from "../src/room/identifiers.js";
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
    // Users on other servers: one request per server, all at once; a server that does not answer is a failure, not an error.
    const failures: JsonObject = {};
    const byServer = new Map<string, Record<string, string[]>>();
    for (const [userId, devices] of request) {
      const server = serverNameOf(userId)!;
      if (server === hs.config.server_name) continue;
      let users = byServer.get(server);
      if (!users) byServer.set(server, (users = {}));
      users[userId] = devices;
    }
    await Promise.all([...byServer].map(async ([server, users]) => {
      try {
        const remote = await hs.remote.queryKeys(server, users);
        for (const field of ["device_keys", "master_keys", "self_signing_keys"]) {
          const got = remote[field];
          if (typeof got !== "object" || got === null || Array.isArray(got)) continue;
          for (const [userId, value] of Object.entries(got)) {
            // A server answers only for its own users.
            if (serverNameOf(userId) === server && userId in users) (answer[field] as JsonObject)[userId] = value;
          }
        }
      } catch (err) {
        failures[server] = { errcode: "M_UNKNOWN", error: String((err as Error)?.message ?? err) };
      }
    }));
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
      if (isValidUserId(userId)) request.set(userId, perDevice);
    }
    const claimed: Record<string, Record<string, JsonObject>> = await keys.claim(request);
    const byServer = new Map<string, Record<string, Record<string, string>>>();
    for (const [userId, devices] of request) {
      const server = serverNameOf(userId)!;
      if (server === hs.config.server_name) continue;
      let users = byServer.get(server);
      if (!users) byServer.set(server, (users = {}));
      users[userId] = Object.fromEntries(devices);
    }
    await Promise.all([...byServer].map(async ([server, users]) => {
      try {
        const remote = (await hs.remote.claimKeys(server, users)).one_time_keys;
        if (typeof remote !== "object" || remote === null || Array.isArray(remote)) return;
        for (const [userId, devices] of Object.entries(remote)) {
          if (serverNameOf(userId) === server && userId in users && typeof devices === "object" && devices !== null) claimed[userId] = devices as Record<string, JsonObject>;
        }
      } catch (err) {
        failures[server] = { errcode: "M_UNKNOWN", error: String((err as Error)?.message ?? err) };
      }
    }));
    ctx.body = { one_time_keys: claimed, failures };
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
