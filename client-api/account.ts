/**
 * Accounts and sessions: /register (with user-interactive auth),
 * /register/available, /login, /logout, /logout/all, /account/whoami.
 */
import type Router from "@koa/router";
import type { ServerContext } from "../src/context.js";
import { requireUser } from "../src/http/auth.js";
import { readJsonObject } from "../src/http/body.js";
import { MatrixError, forbidden } from "../src/http/errors.js";
import { optionalBoolean, optionalObject, optionalString } from "../src/http/params.js";
import { isValidLocalpart } from "../src/room/identifiers.js";
import { confirmUser, type InteractiveAuth } from "./uia.js";
import NodeCache from "node-cache";
import { randomBytes } from "node:crypto";
import type { Session } from "../src/storage/account-store.js";
import { OPENID_TOKEN_LIFETIME_S } from "../src/ephemeral/openid-tokens.js";

const PREFIX = "/_matrix/client/v3";
const LOGIN_TOKEN_TTL_MS = 120_000;
const MAX_PASSWORD_BYTES = 512;

export function registerAccount(router: Router, hs: ServerContext, uia: InteractiveAuth): void {
  const limit = hs.config.max_request_body_bytes;
  const serverName = hs.config.server_name;

  /** The user id a requested username means here, or the spec's error. */
  const userIdFor = (username: string): string => {
    const localpart = username.startsWith("@") ? username.slice(1).split(":")[0] : username;
    if (username.startsWith("@") && username.slice(username.indexOf(":") + 1) !== serverName) {
      throw new MatrixError(400, "M_INVALID_USERNAME", "User ID is not on this server");
    }
    if (!isValidLocalpart(localpart)) {
      throw new MatrixError(400, "M_INVALID_USERNAME", "User ID may only contain a-z, 0-9, and . _ = - / +");
    }
    const userId = `@${localpart}:${serverName}`;
    if (Buffer.byteLength(userId) > 255) throw new MatrixError(400, "M_INVALID_USERNAME", "User ID is too long");
    return userId;
  };

  router.get("/_matrix/client/v1/register/m.login.registration_token/validity", async (ctx) => {
    const token = ctx.query.token;
    if (typeof token !== "string") throw new MatrixError(400, "M_MISSING_PARAM", "Missing token");
    ctx.body = { valid: await hs.registrationTokens.isValid(token) };
  });

  router.get(`${PREFIX}/register/available`, async (ctx) => {
    const username = ctx.query.username;
    if (typeof username !== "string") throw new MatrixError(400, "M_MISSING_PARAM", "Missing username");
    const userId = userIdFor(username);
    if (await hs.accounts.userExists(userId)) throw new MatrixError(400, "M_USER_IN_USE", "User ID already taken");
    ctx.body = { available: true };
  });

  router.post(`${PREFIX}/register`, async (ctx) => {
    const kind = ctx.query.kind ?? "user";
    if (kind === "guest") throw new MatrixError(403, "M_GUEST_ACCESS_FORBIDDEN", "Guest access is disabled");
    if (kind !== "user") throw new MatrixError(400, "M_INVALID_PARAM", "kind must be user or guest");
    const body = await readJsonObject(ctx, limit);
    if (!hs.config.registration.enabled) throw forbidden("Registration is disabled");

    const username = optionalString(body, "username");
    const password = optionalString(body, "password");
    const deviceId = optionalString(body, "device_id");
    const displayName = optionalString(body, "initial_device_display_name");
    const inhibitLogin = optionalBoolean(body, "inhibit_login") ?? false;
    optionalObject(body, "auth");
    if (password !== undefined && Buffer.byteLength(password) > MAX_PASSWORD_BYTES) {
      throw new MatrixError(400, "M_INVALID_PARAM", "Password is too long");
    }
    // Check the name before asking for auth, so a client learns it is taken at once.
    const userId = username !== undefined ? userIdFor(username.toLowerCase()) : undefined;
    if (userId && (await hs.accounts.userExists(userId))) throw new MatrixError(400, "M_USER_IN_USE", "User ID already taken");

    let registrationToken: string | undefined;
    const flows = hs.config.registration.requires_token ? [["m.login.registration_token"]] : [["m.login.dummy"]];
    await uia.require("register", body, flows, {
      "m.login.dummy": () => {},
      "m.login.registration_token": async (auth) => {
        if (typeof auth.token !== "string" || !(await hs.registrationTokens.isValid(auth.token))) {
          throw new MatrixError(401, "M_UNAUTHORIZED", "Invalid registration token");
        }
        registrationToken = auth.token;
      },
    });
    // Counted once the auth is complete: a registration, not each round of its handshake.
    hs.rateLimits.registration.take(ctx.ip);
    if (registrationToken !== undefined && !(await hs.registrationTokens.use(registrationToken))) {
      throw new MatrixError(401, "M_UNAUTHORIZED", "The registration token has been used up");
    }

    const finalId = userId ?? (await freshUserId(hs));
    if (!(await hs.accounts.createUser(finalId, password ?? null))) {
      throw new MatrixError(400, "M_USER_IN_USE", "User ID already taken");
    }
    // New users start with their localpart as display name, as clients expect a name to show.
    await hs.profiles.set(finalId, "displayname", finalId.slice(1, finalId.indexOf(":")));
    hs.log.info("registered", { user_id: finalId });
    if (inhibitLogin) {
      ctx.body = { user_id: finalId };
      return;
    }
    const session = await hs.accounts.createSession(finalId, deviceId, displayName, refreshLifetime(body));
    ctx.body = { user_id: finalId, ...sessionBody(session) };
  });

  /** The token lifetime when the client asked for a refresh token, else undefined (a token that does not expire). */
  const refreshLifetime = (body: Record<string, unknown>): number | undefined =>
    optionalBoolean(body, "refresh_token") ? hs.config.refreshable_access_token_lifetime_ms : undefined;
  const sessionBody = (s: Session) => ({
    access_token: s.accessToken,
    device_id: s.deviceId,
    home_server: serverName,
    ...(s.refreshToken ? { refresh_token: s.refreshToken, expires_in_ms: s.expiresInMs } : {}),
  });
  // Single-use login tokens (m.login.token), for signing in a second device from a logged-in one.
  const loginTokens = new NodeCache({ stdTTL: LOGIN_TOKEN_TTL_MS / 1000, checkperiod: 60, useClones: false, maxKeys: 10_000 });

  router.get(`${PREFIX}/login`, (ctx) => {
    ctx.body = { flows: [{ type: "m.login.password" }, { type: "m.login.token" }] };
  });

  router.post("/_matrix/client/v1/login/get_token", async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, limit);
    await confirmUser(uia, hs, "get_token", me.userId, body);
    const token = "mlt_" + randomBytes(24).toString("base64url");
    loginTokens.set(token, me.userId);
    ctx.body = { login_token: token, expires_in_ms: LOGIN_TOKEN_TTL_MS };
  });

  router.post(`${PREFIX}/refresh`, async (ctx) => {
    const body = await readJsonObject(ctx, limit);
    const refreshToken = optionalString(body, "refresh_token");
    if (refreshToken === undefined) throw new MatrixError(400, "M_MISSING_PARAM", "Missing refresh_token");
    const session = await hs.accounts.refresh(refreshToken, hs.config.refreshable_access_token_lifetime_ms);
    if (!session) throw new MatrixError(401, "M_UNKNOWN_TOKEN", "Unknown refresh token", { soft_logout: false });
    ctx.body = { access_token: session.accessToken, refresh_token: session.refreshToken, expires_in_ms: session.expiresInMs };
  });

  router.post(`${PREFIX}/login`, async (ctx) => {
    const body = await readJsonObject(ctx, limit);
    hs.rateLimits.login.take(ctx.ip);
    const type = optionalString(body, "type");
    const deviceId = optionalString(body, "device_id");
    const displayName = optionalString(body, "initial_device_display_name");
    if (type === "m.login.token") {
      const token = optionalString(body, "token");
      const userId = token === undefined ? undefined : loginTokens.take<string>(token);
      if (userId === undefined) throw forbidden("Invalid or expired login token");
      const session = await hs.accounts.createSession(userId, deviceId, displayName, refreshLifetime(body));
      ctx.body = { user_id: userId, ...sessionBody(session) };
      return;
    }
    if (type !== "m.login.password") throw new MatrixError(400, "M_UNKNOWN", `Unknown login type ${type}`);
    const password = optionalString(body, "password");
    const identifier = optionalObject(body, "identifier");
    let user: string | undefined;
    if (identifier) {
      if (identifier.type !== "m.id.user") throw new MatrixError(400, "M_UNKNOWN", "Only m.id.user identifiers are supported");
      user = optionalString(identifier, "user");
    } else {
      user = optionalString(body, "user"); // deprecated top-level form
    }
    if (!user || password === undefined) throw new MatrixError(400, "M_MISSING_PARAM", "Missing user or password");
    const lower = user.toLowerCase();
    const userId = lower.startsWith("@") ? lower : `@${lower}:${serverName}`;
    if (!(await hs.accounts.checkPassword(userId, password))) throw forbidden("Invalid username or password");
    const session = await hs.accounts.createSession(userId, deviceId, displayName, refreshLifetime(body));
    ctx.body = { user_id: userId, ...sessionBody(session) };
  });

  router.post(`${PREFIX}/logout`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    await hs.accounts.endSession(me.accessToken);
    ctx.body = {};
  });

  router.post(`${PREFIX}/logout/all`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    await hs.accounts.endAllSessions(me.userId);
    ctx.body = {};
  });

  router.post(`${PREFIX}/account/password`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, limit);
    const newPassword = optionalString(body, "new_password");
    const logoutDevices = optionalBoolean(body, "logout_devices") ?? true;
    if (newPassword === undefined) throw new MatrixError(400, "M_MISSING_PARAM", "Missing new_password");
    if (Buffer.byteLength(newPassword) > MAX_PASSWORD_BYTES) throw new MatrixError(400, "M_INVALID_PARAM", "Password is too long");
    await confirmUser(uia, hs, "password", me.userId, body);
    await hs.accounts.setPassword(me.userId, newPassword);
    if (logoutDevices) await hs.accounts.endOtherSessions(me.userId, me.deviceId);
    ctx.body = {};
  });

  router.post(`${PREFIX}/account/deactivate`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, limit);
    await confirmUser(uia, hs, "deactivate", me.userId, body);
    // Leave every room first, while the user can still act; then end all sessions.
    for (const roomId of [...(await hs.states.roomsForUser(me.userId, "join")), ...(await hs.states.roomsForUser(me.userId, "invite"))]) {
      try {
        await hs.localEvents.send(roomId, { type: "m.room.member", stateKey: me.userId, sender: me.userId, content: { membership: "leave" } });
      } catch (err) {
        hs.log.warn("could not leave room on deactivation", { room_id: roomId, user_id: me.userId, err: String(err) });
      }
    }
    await hs.accounts.deactivate(me.userId);
    hs.log.info("deactivated", { user_id: me.userId });
    ctx.body = { id_server_unbind_result: "no-support" };
  });

  router.post(`${PREFIX}/user/:userId/openid/request_token`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    await readJsonObject(ctx, limit);
    if (ctx.params.userId !== me.userId) throw forbidden("You may only request tokens for yourself");
    ctx.body = { access_token: hs.openIdTokens.issue(me.userId), token_type: "Bearer", matrix_server_name: serverName, expires_in: OPENID_TOKEN_LIFETIME_S };
  });

  router.get(`${PREFIX}/account/whoami`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    ctx.body = { user_id: me.userId, device_id: me.deviceId, is_guest: false };
  });
}

/** A numeric localpart nobody has, for registrations that name no user (as Synapse does). */
async function freshUserId(hs: ServerContext): Promise<string> {
  for (;;) {
    const candidate = `@${Math.floor(Math.random() * 1e10)}:${hs.config.server_name}`;
    if (!(await hs.accounts.userExists(candidate))) return candidate;
  }
}
