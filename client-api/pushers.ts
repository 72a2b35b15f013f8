/**
 * Pushers (client-server API, push notifications: pushers): list them, and
 * create, update or delete one (POST /pushers/set). Only HTTP pushers are
 * supported; their URL must be the gateway's /_matrix/push/v1/notify (and
 * https unless push.require_https is off). Checks run before anything is
 * stored, so a refused request changes nothing.
 */
import type Router from "@koa/router";
import type { ServerContext } from "../src/context.js";
import { requireUser } from "../src/http/auth.js";
import { readJsonObject } from "../src/http/body.js";
import { invalidParam, missingParam } from "../src/http/errors.js";
import type { JsonObject } from "../src/room/types.js";
import type { Pusher } from "../src/storage/push-pushers-store.js";

const PREFIX = "/_matrix/client/v3";
const NOTIFY_PATH = "/_matrix/push/v1/notify";

function shown(p: Pusher): JsonObject {
  const out: JsonObject = {
    pushkey: p.pushkey, kind: p.kind, app_id: p.appId, app_display_name: p.appDisplayName,
    device_display_name: p.deviceDisplayName, lang: p.lang, data: p.data,
  };
  if (p.profileTag !== undefined) out.profile_tag = p.profileTag;
  return out;
}

export function registerPushers(router: Router, hs: ServerContext): void {
  const pushers = hs.push.pushers;

  router.get(`${PREFIX}/pushers`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    ctx.body = { pushers: (await pushers.forUser(me.userId)).map(shown) };
  });

  router.post(`${PREFIX}/pushers/set`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, hs.config.max_request_body_bytes);
    const missing = ["kind", "app_id", "pushkey"].filter((k) => !(k in body));
    if (body.app_id === null) missing.push("app_id");
    if (body.pushkey === null) missing.push("pushkey");
    if (missing.length) throw missingParam(`Missing parameters: ${[...new Set(missing)].join(", ")}`);
    const { kind, app_id: appId, pushkey } = body;
    if (typeof appId !== "string" || appId === "") throw invalidParam("app_id must be a non-empty string");
    if (typeof pushkey !== "string" || pushkey === "") throw invalidParam("pushkey must be a non-empty string");
    if ([...appId].length > 64) throw invalidParam("app_id is longer than 64 characters");
    if (Buffer.byteLength(pushkey, "utf8") > 512) throw invalidParam("pushkey is longer than 512 bytes");
    if (kind === null) {
      await pushers.delete(me.userId, appId, pushkey);
      ctx.body = {};
      return;
    }
    if (typeof kind !== "string") throw invalidParam("kind must be a string or null");
    if (kind !== "http") throw invalidParam(`Unsupported pusher kind ${kind}: only http pushers are supported`);
    const needed = ["app_display_name", "device_display_name", "lang", "data"].filter((k) => body[k] === undefined || body[k] === null);
    if (needed.length) throw missingParam(`Missing parameters: ${needed.join(", ")}`);
    for (const k of ["app_display_name", "device_display_name", "lang"]) {
      if (typeof body[k] !== "string") throw invalidParam(`${k} must be a string`);
    }
    if (body.profile_tag !== undefined && body.profile_tag !== null && typeof body.profile_tag !== "string") throw invalidParam("profile_tag must be a string");
    if (body.append !== undefined && typeof body.append !== "boolean") throw invalidParam("append must be a boolean");
    const data = body.data;
    if (typeof data !== "object" || data === null || Array.isArray(data)) throw invalidParam("data must be an object");
    const d = data as JsonObject;
    if (d.url === undefined || d.url === null) throw missingParam("data.url is required for http pushers");
    if (typeof d.url !== "string") throw invalidParam("data.url must be a string");
    let url: URL;
    try {
      url = new URL(d.url);
    } catch {
      throw invalidParam("data.url is not a URL");
    }
    const schemes = hs.config.push.require_https ? ["https:"] : ["https:", "http:"];
    if (!schemes.includes(url.protocol)) throw invalidParam(`data.url must be ${hs.config.push.require_https ? "an https" : "an http or https"} URL`);
    if (url.pathname !== NOTIFY_PATH) throw invalidParam(`data.url must have the path ${NOTIFY_PATH}`);
    if (d.format !== undefined && d.format !== "event_id_only") throw invalidParam("data.format must be event_id_only if given");
    await pushers.set({
      userId: me.userId, deviceId: me.deviceId, appId, pushkey, kind,
      appDisplayName: body.app_display_name as string,
      deviceDisplayName: body.device_display_name as string,
      profileTag: typeof body.profile_tag === "string" ? body.profile_tag : undefined,
      lang: body.lang as string,
      data: d,
    }, body.append === true, hs.eventStream.position);
    ctx.body = {};
  });
}
