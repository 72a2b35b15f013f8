/**
 * The Server-Server API: /_matrix/key/* (our signing key, and keys we
 * hold for others as a notary) and /_matrix/federation/* (queries, keys
 * for end-to-end encryption, the room DAG), every federation route behind
 * request authentication. Built over the same engine as the client API.
 */
import Router from "@koa/router";
import type { ServerContext } from "../src/context.js";
import { KeyDirectory } from "../src/e2ee/keys.js";
import { publicRooms, serversOfRoom } from "../src/rooms/public-rooms.js";
import { RoomClientStore } from "../src/rooms/room-data.js";
import { readJsonObject } from "../src/http/body.js";
import { MatrixError, badJson, notFound } from "../src/http/errors.js";
import { isValidServerName, isValidUserId, serverNameOf } from "../src/room/identifiers.js";
import { canonicalJson } from "../src/crypto/canonical-json.js";
import type { JsonObject } from "../src/room/types.js";
import { FederationClient } from "./client.js";
import { authenticate, checkServerAcl } from "./inbound-auth.js";
import { SpaceHierarchy } from "../src/rooms/hierarchy.js";
import { KeyRing } from "./key-ring.js";
import { FederationRemote } from "./remote-servers.js";
import { FederationRoomSource } from "./room-source.js";
import { registerRoomRoutes } from "./rooms.js";
import { FederationSender } from "./sender.js";
import { registerTransactions } from "./transactions.js";
import { FederationMedia, registerMediaRoutes } from "./media.js";
import { queueEphemeralEdus } from "./edus.js";

const V1 = "/_matrix/federation/v1";

export interface Federation {
  readonly router: Router;
  readonly client: FederationClient;
  readonly keys: KeyRing;
  readonly sender: FederationSender;
  /** Resume sending what was queued before a restart. */
  start(): Promise<void>;
  close(): void;
}

export function createFederation(hs: ServerContext): Federation {
  const client = new FederationClient(hs.config, hs.signingKey, hs.log);
  const keys = new KeyRing(hs.config.server_name, hs.signingKey, hs.config.federation.key_validity_ms, hs.db, client, hs.log);
  const router = new Router();
  const directory = new KeyDirectory(hs);
  const serverName = hs.config.server_name;
  const sender = new FederationSender(hs, client);

  // Remote events check signatures with the key ring and fill gaps through this client; our users reach other servers through it.
  hs.remoteEvents.connect((server, keyId, atTs) => keys.verifyKey(server, keyId, atTs), new FederationRoomSource(client));
  if (hs.config.federation.enabled) {
    hs.remote = new FederationRemote(hs, client, sender);
    hs.media.connectRemote(new FederationMedia(client));
  }
  hs.persister.withinEveryCommit(sender.queueEventInCommit);
  hs.persister.onPersisted(sender.afterPersist);
  queueEphemeralEdus(hs, sender);
  registerRoomRoutes(router, hs, keys, sender);
  registerMediaRoutes(router, hs, keys);
  registerTransactions(router, hs, keys, (origin) => sender.markAlive(origin));

  // Delegation (server-server API: resolving server names): where other servers should connect for our name, when the operator says.
  router.get("/.well-known/matrix/server", (ctx) => {
    const target = hs.config.federation.well_known_server;
    if (!target) throw notFound("No server delegation is configured");
    ctx.body = { "m.server": target };
  });

  // ---- keys: unauthenticated by design (they are how authentication starts) ----
  // Sent as canonical JSON: a checker may verify the signature over the bytes it received, signatures removed.
  const ownKeys = (ctx: import("koa").Context) => {
    ctx.type = "application/json";
    ctx.body = canonicalJson(keys.ownKeys());
  };
  router.get("/_matrix/key/v2/server", ownKeys);
  router.get("/_matrix/key/v2/server/:keyId", ownKeys);
  router.get("/_matrix/key/v2/query/:serverName", async (ctx) => {
    const held = isValidServerName(ctx.params.serverName) ? await keys.heldKeys(ctx.params.serverName) : undefined;
    ctx.body = { server_keys: held ? [held] : [] };
  });
  router.post("/_matrix/key/v2/query", async (ctx) => {
    const body = await readJsonObject(ctx, hs.config.max_request_body_bytes);
    const wanted = body.server_keys;
    if (typeof wanted !== "object" || wanted === null || Array.isArray(wanted)) throw badJson("server_keys must be an object");
    const out: JsonObject[] = [];
    for (const server of Object.keys(wanted)) {
      if (!isValidServerName(server)) continue;
      const held = await keys.heldKeys(server);
      if (held) out.push(held);
    }
    ctx.body = { server_keys: out };
  });

  // ---- federation: every route authenticated ----
  router.get(`${V1}/version`, (ctx) => {
    ctx.body = { server: { name: "pimatrix", version: "0.1.0" } };
  });

  router.get(`${V1}/query/profile`, async (ctx) => {
    await authenticate(ctx, hs, keys);
    const userId = ctx.query.user_id;
    const field = ctx.query.field;
    if (typeof userId !== "string") throw new MatrixError(400, "M_MISSING_PARAM", "user_id is required");
    if (!isValidUserId(userId)) throw new MatrixError(400, "M_INVALID_PARAM", "user_id is not a valid user id");
    if (field !== undefined && field !== "displayname" && field !== "avatar_url") throw new MatrixError(400, "M_INVALID_PARAM", "Unknown profile field");
    if (serverNameOf(userId) !== serverName || !(await hs.accounts.userExists(userId))) throw notFound("Profile not found");
    const profile = ((await hs.profiles.get(userId)) ?? {}) as Record<string, string>;
    ctx.body = field ? (profile[field] === undefined ? {} : { [field]: profile[field] }) : profile;
  });

  router.get(`${V1}/query/directory`, async (ctx) => {
    await authenticate(ctx, hs, keys);
    const alias = ctx.query.room_alias;
    if (typeof alias !== "string") throw new MatrixError(400, "M_MISSING_PARAM", "room_alias is required");
    const row = serverNameOf(alias) === serverName ? await hs.aliases.get(alias) : undefined;
    if (!row) throw notFound("Room alias not found");
    ctx.body = { room_id: row.roomId, servers: await serversOfRoom(hs, row.roomId) };
  });

  const publicRoomsFor = async (ctx: import("koa").Context, limit: unknown, since: unknown, filter: unknown) => {
    const n = typeof limit === "number" ? limit : typeof limit === "string" && /^\d+$/.test(limit) ? Number(limit) : undefined;
    const f = typeof filter === "object" && filter !== null && !Array.isArray(filter) ? (filter as Record<string, unknown>) : undefined;
    ctx.body = await publicRooms(hs, new RoomClientStore(hs.db), n, typeof since === "string" ? since : undefined, f);
  };
  router.get(`${V1}/publicRooms`, async (ctx) => {
    await authenticate(ctx, hs, keys);
    await publicRoomsFor(ctx, ctx.query.limit, ctx.query.since, undefined);
  });
  router.post(`${V1}/publicRooms`, async (ctx) => {
    const { body } = await authenticate(ctx, hs, keys);
    await publicRoomsFor(ctx, body.limit, body.since, body.filter);
  });

  // Spaces: the room and its children held here that the asking server's users could peek or join (no pagination over federation).
  const spaces = new SpaceHierarchy(hs);
  router.get(`${V1}/hierarchy/:roomId`, async (ctx) => {
    const { origin } = await authenticate(ctx, hs, keys);
    const roomId = ctx.params.roomId;
    await checkServerAcl(hs, roomId, origin);
    const suggested = ctx.query.suggested_only;
    if (suggested !== undefined && suggested !== "true" && suggested !== "false") throw new MatrixError(400, "M_INVALID_PARAM", "suggested_only must be true or false");
    ctx.body = await spaces.forServer(origin, roomId, suggested === "true");
  });

  // OpenID: another service (an integration manager, a widget) checks who holds a token one of our users gave it. No X-Matrix here.
  router.get(`${V1}/openid/userinfo`, (ctx) => {
    const token = ctx.query.access_token;
    const userId = typeof token === "string" ? hs.openIdTokens.userOf(token) : undefined;
    if (!userId) throw new MatrixError(401, "M_UNKNOWN_TOKEN", "Unknown or expired OpenID token");
    ctx.body = { sub: userId };
  });

  router.get(`${V1}/user/devices/:userId`, async (ctx) => {
    await authenticate(ctx, hs, keys);
    const userId = ctx.params.userId;
    if (serverNameOf(userId) !== serverName) throw new MatrixError(403, "M_FORBIDDEN", "Not a user of this server");
    const answer = await directory.query(null, new Map([[userId, []]]));
    const deviceKeys = ((answer.device_keys as JsonObject)[userId] ?? {}) as Record<string, JsonObject>;
    const names = new Map((await hs.accounts.devices(userId)).map((d) => [d.deviceId, d.displayName]));
    const devices = Object.entries(deviceKeys).map(([deviceId, k]) => {
      const { unsigned: _u, ...keysOnly } = k;
      const name = names.get(deviceId);
      return { device_id: deviceId, keys: keysOnly, ...(name ? { device_display_name: name } : {}) };
    });
    const out: JsonObject = { user_id: userId, stream_id: hs.deviceLists.stream.position, devices };
    const master = (answer.master_keys as JsonObject)[userId];
    const selfSigning = (answer.self_signing_keys as JsonObject)[userId];
    if (master) out.master_key = master;
    if (selfSigning) out.self_signing_key = selfSigning;
    ctx.body = out;
  });

  router.post(`${V1}/user/keys/query`, async (ctx) => {
    const { body } = await authenticate(ctx, hs, keys);
    const wanted = body.device_keys;
    if (typeof wanted !== "object" || wanted === null || Array.isArray(wanted)) throw badJson("device_keys must be an object");
    const request = new Map<string, string[]>();
    for (const [userId, devices] of Object.entries(wanted)) {
      if (serverNameOf(userId) === serverName && Array.isArray(devices)) request.set(userId, devices.filter((d): d is string => typeof d === "string"));
    }
    const { failures: _f, user_signing_keys: _u, ...answer } = await directory.query(null, request);
    ctx.body = answer;
  });

  router.post(`${V1}/user/keys/claim`, async (ctx) => {
    const { body } = await authenticate(ctx, hs, keys);
    const wanted = body.one_time_keys;
    if (typeof wanted !== "object" || wanted === null || Array.isArray(wanted)) throw badJson("one_time_keys must be an object");
    const request = new Map<string, Map<string, string>>();
    for (const [userId, devices] of Object.entries(wanted)) {
      if (typeof devices !== "object" || devices === null) continue;
      request.set(userId, new Map(Object.entries(devices).filter((e): e is [string, string] => typeof e[1] === "string")));
    }
    ctx.body = { one_time_keys: await directory.claim(request) };
  });

  return {
    router, client, keys, sender,
    start: () => sender.start(),
    close: () => {
      sender.stop();
      client.close();
    },
  };
}

