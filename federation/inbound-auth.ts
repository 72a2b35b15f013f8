/**
 * Inbound federation requests: read the body, check the X-Matrix
 * signature against the origin's key, and refuse servers the room's ACL
 * bans. Every /_matrix/federation route starts here, so an unsigned or
 * badly signed request gets its 401 before anything is read or changed.
 */
import type { Context } from "koa";
import type { ServerContext } from "../src/context.js";
import { readBody } from "../src/http/body.js";
import { MatrixError, badJson, notJson } from "../src/http/errors.js";
import { stateKey, type JsonObject } from "../src/room/types.js";
import type { KeyRing } from "./key-ring.js";
import { authenticateRequest } from "./request-auth.js";

export interface FederationRequest {
  readonly origin: string;
  readonly body: JsonObject;
}

/** Federation bodies are larger than clients' (a transaction holds up to 50 PDUs of 64 KiB, a send_join answer whole rooms). */
const MAX_FEDERATION_BODY = 8 * 1024 * 1024;

export async function authenticate(ctx: Context, hs: ServerContext, keys: KeyRing): Promise<FederationRequest> {
  if (!hs.config.federation.enabled) throw new MatrixError(403, "M_FORBIDDEN", "Federation is disabled on this server");
  const raw = ["GET", "DELETE", "HEAD"].includes(ctx.method) ? Buffer.alloc(0) : await readBody(ctx, MAX_FEDERATION_BODY);
  let body: unknown = undefined;
  if (raw.length > 0) {
    try {
      body = JSON.parse(raw.toString("utf8"));
    } catch {
      throw notJson("Content not JSON.");
    }
  }
  const header = ctx.req.headers.authorization;
  const headers = header === undefined ? [] : [header];
  // The signature covers the URI exactly as the sender wrote it, query string included.
  const origin = await authenticateRequest(headers, ctx.method, ctx.originalUrl, hs.config.server_name, body, (server, keyId) => keys.verifyKey(server, keyId));
  if (body !== undefined && (typeof body !== "object" || body === null || Array.isArray(body))) throw badJson("Content must be a JSON object.");
  return { origin, body: (body ?? {}) as JsonObject };
}

/** Refuse a server the room's m.room.server_acl denies (server-server API: server access control lists). */
export async function checkServerAcl(hs: ServerContext, roomId: string, origin: string): Promise<void> {
  const id = (await hs.states.currentState(roomId)).get(stateKey("m.room.server_acl", ""));
  if (id === undefined) return;
  const acl = (await hs.events.getEvent(id))?.event.content;
  if (acl && !serverAllowedByAcl(acl, origin)) throw new MatrixError(403, "M_FORBIDDEN", "Server is banned by the room's ACL");
}

/** The ACL rules: IP literals refused unless allowed, then deny globs, then allow globs. Pure. */
export function serverAllowedByAcl(acl: JsonObject, serverName: string): boolean {
  const host = serverName.replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1");
  const allowIp = acl.allow_ip_literals !== false;
  if (!allowIp && (/^\d+\.\d+\.\d+\.\d+$/.test(host) || host.includes(":"))) return false;
  const globs = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);
  const matches = (glob: string) => new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".")}$`, "i").test(host);
  if (globs(acl.deny).some(matches)) return false;
  return globs(acl.allow).some(matches);
}
