/**
 * Shared-secret registration, as Synapse offers it to operator tooling
 * (/_synapse/admin/v1/register): GET a nonce, then POST the new user with
 * an HMAC-SHA1 over nonce, username, password and admin flag, keyed with
 * `registration.shared_secret`. Works even when open registration is off.
 */
import type Router from "@koa/router";
import NodeCache from "node-cache";
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { ServerContext } from "../../src/context.js";
import { readJsonObject } from "../../src/http/body.js";
import { MatrixError, forbidden } from "../../src/http/errors.js";
import { optionalBoolean, optionalString, requireString } from "../../src/http/params.js";
import { isValidLocalpart } from "../../src/room/identifiers.js";

const PATH = "/_synapse/admin/v1/register";

export function registerSharedSecretRegistration(router: Router, hs: ServerContext): void {
  // A nonce is good for one registration within a minute.
  const nonces = new NodeCache({ stdTTL: 60, checkperiod: 30, useClones: false, maxKeys: 10_000 });
  const secret = () => {
    const s = hs.config.registration.shared_secret;
    if (!s) throw new MatrixError(400, "M_UNKNOWN", "Shared secret registration is not enabled");
    return s;
  };

  router.get(PATH, (ctx) => {
    secret();
    const nonce = randomBytes(16).toString("hex");
    nonces.set(nonce, true);
    ctx.body = { nonce };
  });

  router.post(PATH, async (ctx) => {
    const key = secret();
    const body = await readJsonObject(ctx, hs.config.max_request_body_bytes);
    const nonce = requireString(body, "nonce");
    const username = requireString(body, "username");
    const password = requireString(body, "password");
    const mac = requireString(body, "mac");
    const admin = optionalBoolean(body, "admin") ?? false;
    const userType = optionalString(body, "user_type");
    const displayname = optionalString(body, "displayname");
    if (!nonces.take(nonce)) throw new MatrixError(400, "M_UNKNOWN", "Unrecognised nonce");

    const parts = [nonce, username, password, admin ? "admin" : "notadmin"];
    if (userType !== undefined) parts.push(userType);
    const expected = createHmac("sha1", key).update(parts.join("\u0000")).digest();
    const given = Buffer.from(mac, "hex");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw forbidden("HMAC incorrect");

    const localpart = username.toLowerCase();
    if (!isValidLocalpart(localpart)) throw new MatrixError(400, "M_INVALID_USERNAME", "Invalid username");
    const userId = `@${localpart}:${hs.config.server_name}`;
    if (!(await hs.accounts.createUser(userId, password, { admin }))) throw new MatrixError(400, "M_USER_IN_USE", "User ID already taken");
    await hs.profiles.set(userId, "displayname", displayname ?? localpart);
    const session = await hs.accounts.createSession(userId);
    ctx.body = { user_id: userId, access_token: session.accessToken, device_id: session.deviceId, home_server: hs.config.server_name };
  });
}
