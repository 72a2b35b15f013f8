/**
 * Send-to-device messages: queued per recipient device (or every device
 * of a user, `*`), once per transaction id, delivered through /sync.
 */
import type Router from "@koa/router";
import type { ServerContext } from "../src/context.js";
import { requireUser } from "../src/http/auth.js";
import { readJsonObject } from "../src/http/body.js";
import { MatrixError, badJson } from "../src/http/errors.js";
import { isValidUserId, serverNameOf } from "../src/room/identifiers.js";
import type { JsonObject } from "../src/room/types.js";
import type { ToDeviceMessage } from "../src/storage/to-device-store.js";

const PREFIX = "/_matrix/client/v3";

export function registerToDevice(router: Router, hs: ServerContext): void {
  router.put(`${PREFIX}/sendToDevice/:eventType/:txnId`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, hs.config.max_request_body_bytes);
    const { eventType, txnId } = ctx.params;
    const messages = body.messages;
    if (typeof messages !== "object" || messages === null || Array.isArray(messages)) throw badJson("messages must be an object");
    // Everything is checked before anything is queued: a bad entry changes nothing.
    const targets: Array<{ userId: string; deviceId: string; content: JsonObject }> = [];
    for (const [userId, devices] of Object.entries(messages as Record<string, unknown>)) {
      if (!isValidUserId(userId)) throw new MatrixError(400, "M_INVALID_PARAM", `${userId} is not a user id`);
      if (typeof devices !== "object" || devices === null || Array.isArray(devices)) throw badJson(`messages.${userId} must be an object`);
      for (const [deviceId, content] of Object.entries(devices as Record<string, unknown>)) {
        if (typeof content !== "object" || content === null || Array.isArray(content)) throw badJson(`messages.${userId}.${deviceId} must be an object`);
        targets.push({ userId, deviceId, content: content as JsonObject });
      }
    }
    const queued: ToDeviceMessage[] = [];
    const remote = new Map<string, Record<string, Record<string, JsonObject>>>();
    for (const t of targets) {
      const server = serverNameOf(t.userId)!;
      if (server !== hs.config.server_name) {
        let users = remote.get(server);
        if (!users) remote.set(server, (users = {}));
        (users[t.userId] ??= {})[t.deviceId] = t.content;
        continue;
      }
      const deviceIds = t.deviceId === "*"
        ? (await hs.accounts.devices(t.userId)).map((d) => d.deviceId)
        : (await hs.accounts.device(t.userId, t.deviceId)) ? [t.deviceId] : [];
      for (const deviceId of deviceIds) queued.push({ userId: t.userId, deviceId, sender: me.userId, type: eventType, content: t.content });
    }
    // Recorded first: a retry of this transaction queues nothing twice, here or for other servers.
    const fresh = await hs.toDevice.send(me.userId, me.deviceId, txnId, queued);
    if (fresh) {
      for (const [server, users] of remote) {
        await hs.remote.sendToDevice(server, me.userId, eventType, `${me.deviceId}.${txnId}`, users);
      }
    }
    ctx.body = {};
  });
}
