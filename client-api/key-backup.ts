/**
 * Server-side key backups (/room_keys/...): backup versions and the
 * encrypted room keys stored in them. The server never decrypts anything;
 * it checks shapes, keeps the best copy of each session and answers with
 * the count and etag clients use to notice other clients' changes.
 */
import type Router from "@koa/router";
import type { Context } from "koa";
import type { ServerContext } from "../src/context.js";
import { requireUser } from "../src/http/auth.js";
import { readJsonObject } from "../src/http/body.js";
import { MatrixError, badJson, invalidParam, missingParam, notFound } from "../src/http/errors.js";
import { optionalObject, optionalString, requireString } from "../src/http/params.js";
import type { JsonObject } from "../src/room/types.js";
import type { KeyBackupData, KeysState, SessionUpload } from "../src/storage/key-backup-store.js";

const PREFIX = "/_matrix/client/v3/room_keys";
/** Room and session ids are stored in 255-character columns. */
const MAX_ID_LENGTH = 255;

type Body = Record<string, unknown>;

const unknownVersion = () => notFound("Unknown backup version");

function isObject(v: unknown): v is Body {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function nonNegativeInteger(data: Body, key: string, where: string): number {
  const v = data[key];
  if (typeof v !== "number" || !Number.isInteger(v)) throw badJson(`${where}: ${key} must be an integer`);
  if (v < 0 || !Number.isSafeInteger(v)) throw invalidParam(`${where}: ${key} must be a non-negative integer`);
  return v;
}

/** One KeyBackupData object, every field required and of its type (the spec's schema). */
export function parseKeyData(value: unknown, where: string): KeyBackupData {
  if (!isObject(value)) throw badJson(`${where} must be an object`);
  const first_message_index = nonNegativeInteger(value, "first_message_index", where);
  const forwarded_count = nonNegativeInteger(value, "forwarded_count", where);
  if (typeof value.is_verified !== "boolean") throw badJson(`${where}: is_verified must be a boolean`);
  if (!isObject(value.session_data)) throw badJson(`${where}: session_data must be an object`);
  return { first_message_index, forwarded_count, is_verified: value.is_verified, session_data: value.session_data as JsonObject };
}

function checkId(id: string, what: string): string {
  if (id.length === 0 || id.length > MAX_ID_LENGTH) throw invalidParam(`${what} must be 1 to ${MAX_ID_LENGTH} characters`);
  return id;
}

/** A room's {sessions: {id: KeyBackupData}} into uploads, checked before anything is stored. */
function parseRoom(roomId: string, value: unknown, out: SessionUpload[]): void {
  checkId(roomId, "room id");
  if (!isObject(value) || !isObject(value.sessions)) throw badJson(`room ${roomId}: sessions must be an object`);
  for (const [sessionId, data] of Object.entries(value.sessions)) {
    checkId(sessionId, "session id");
    out.push({ roomId, sessionId, data: parseKeyData(data, `session ${sessionId} in ${roomId}`) });
  }
}

/** The required ?version= of the /room_keys/keys endpoints. */
function versionParam(ctx: Context): string {
  const v = ctx.query.version;
  if (v === undefined) throw missingParam("Missing version query parameter");
  if (typeof v !== "string") throw invalidParam("version must be given once");
  return v;
}

export function registerKeyBackup(router: Router, hs: ServerContext): void {
  const limit = hs.config.max_request_body_bytes;
  const store = hs.keyBackups;
  const user = async (ctx: Context) => (await requireUser(ctx, hs.accounts)).userId;

  // --- versions ---

  router.post(`${PREFIX}/version`, async (ctx) => {
    const me = await user(ctx);
    const body = await readJsonObject(ctx, limit);
    const algorithm = requireString(body, "algorithm");
    const authData = optionalObject(body, "auth_data");
    if (authData === undefined) throw missingParam("Missing auth_data");
    ctx.body = { version: await store.createVersion(me, algorithm, authData as JsonObject) };
  });

  router.get(`${PREFIX}/version`, async (ctx) => {
    const info = await store.currentVersion(await user(ctx));
    if (!info) throw notFound("No current backup version");
    ctx.body = info;
  });

  router.get(`${PREFIX}/version/:version`, async (ctx) => {
    const info = await store.getVersion(await user(ctx), ctx.params.version);
    if (!info) throw unknownVersion();
    ctx.body = info;
  });

  router.put(`${PREFIX}/version/:version`, async (ctx) => {
    const me = await user(ctx);
    const body = await readJsonObject(ctx, limit);
    const algorithm = requireString(body, "algorithm");
    const authData = optionalObject(body, "auth_data");
    if (authData === undefined) throw missingParam("Missing auth_data");
    const bodyVersion = optionalString(body, "version");
    if (bodyVersion !== undefined && bodyVersion !== ctx.params.version) {
      throw invalidParam("version in the body does not match the version in the path");
    }
    const result = await store.updateVersion(me, ctx.params.version, algorithm, authData as JsonObject);
    if (result === "not_found") throw unknownVersion();
    if (result === "algorithm_mismatch") throw invalidParam("Algorithm does not match");
    ctx.body = {};
  });

  router.delete(`${PREFIX}/version/:version`, async (ctx) => {
    // Deleting a deleted version succeeds: the spec asks for it, so a retried delete is not an error.
    if ((await store.deleteVersion(await user(ctx), ctx.params.version)) === "not_found") throw unknownVersion();
    ctx.body = {};
  });

  // --- keys ---

  /** Validate everything first, then store it all in one transaction or nothing. */
  const put = async (ctx: Context, parse: (body: Body, out: SessionUpload[]) => void) => {
    const me = await user(ctx);
    const version = versionParam(ctx);
    const body = await readJsonObject(ctx, limit);
    const uploads: SessionUpload[] = [];
    parse(body, uploads);
    const result = await store.putKeys(me, version, uploads);
    if (result.kind === "not_found") throw unknownVersion();
    if (result.kind === "wrong_version") {
      throw new MatrixError(403, "M_WRONG_ROOM_KEYS_VERSION", "Wrong backup version.", { current_version: result.currentVersion });
    }
    ctx.body = result.state satisfies KeysState;
  };

  router.put(`${PREFIX}/keys`, (ctx) =>
    put(ctx, (body, out) => {
      if (!isObject(body.rooms)) throw badJson("rooms must be an object");
      for (const [roomId, room] of Object.entries(body.rooms)) parseRoom(roomId, room, out);
    }),
  );
  router.put(`${PREFIX}/keys/:roomId`, (ctx) => put(ctx, (body, out) => parseRoom(ctx.params.roomId, body, out)));
  router.put(`${PREFIX}/keys/:roomId/:sessionId`, (ctx) =>
    put(ctx, (body, out) => {
      const { roomId, sessionId } = ctx.params;
      out.push({ roomId: checkId(roomId, "room id"), sessionId: checkId(sessionId, "session id"), data: parseKeyData(body, "key data") });
    }),
  );

  router.get(`${PREFIX}/keys`, async (ctx) => {
    const keys = await store.getKeys(await user(ctx), versionParam(ctx));
    if (!keys) throw unknownVersion();
    ctx.body = { rooms: Object.fromEntries(Object.entries(keys).map(([roomId, sessions]) => [roomId, { sessions }])) };
  });

  router.get(`${PREFIX}/keys/:roomId`, async (ctx) => {
    const { roomId } = ctx.params;
    const keys = await store.getKeys(await user(ctx), versionParam(ctx), roomId);
    if (!keys) throw unknownVersion();
    // A room with no keys is {sessions: {}}, as the spec's 200 response says, not a 404.
    ctx.body = { sessions: keys[roomId] ?? {} };
  });

  router.get(`${PREFIX}/keys/:roomId/:sessionId`, async (ctx) => {
    const { roomId, sessionId } = ctx.params;
    const keys = await store.getKeys(await user(ctx), versionParam(ctx), roomId, sessionId);
    if (!keys) throw unknownVersion();
    const key = keys[roomId]?.[sessionId];
    if (!key) throw notFound("Key not found");
    ctx.body = key;
  });

  const del = async (ctx: Context, roomId?: string, sessionId?: string) => {
    const state = await store.deleteKeys(await user(ctx), versionParam(ctx), roomId, sessionId);
    if (!state) throw unknownVersion();
    ctx.body = state;
  };
  router.delete(`${PREFIX}/keys`, (ctx) => del(ctx));
  router.delete(`${PREFIX}/keys/:roomId`, (ctx) => del(ctx, ctx.params.roomId));
  router.delete(`${PREFIX}/keys/:roomId/:sessionId`, (ctx) => del(ctx, ctx.params.roomId, ctx.params.sessionId));
}
