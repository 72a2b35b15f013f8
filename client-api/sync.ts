/**
 * /sync and filters. A long-poll with nothing to say waits on the notifier
 * (no polling), and if its timeout passes returns the token it was given.
 */
import type Router from "@koa/router";
import type { ServerContext } from "../src/context.js";
import { requireUser } from "../src/http/auth.js";
import { readJsonObject } from "../src/http/body.js";
import { MatrixError, forbidden, notFound } from "../src/http/errors.js";
import { SyncBuilder } from "../src/sync/builder.js";
import { EMPTY_FILTER, parseSyncFilter, type SyncFilter } from "../src/sync/filter.js";
import { parseSyncToken } from "../src/sync/tokens.js";
import { stringifyObject } from "../src/util/json-text.js";
import { Lru } from "../src/util/lru.js";
import { pairKey } from "../src/util/pair-key.js";
import { isValidUserId } from "../src/room/identifiers.js";

const PREFIX = "/_matrix/client/v3";
/** Longest long-poll we hold, whatever the client asks. */
const MAX_TIMEOUT_MS = 300_000;
/** Parsed stored filters held in memory (one or two per client). */
const FILTER_CACHE_SIZE = 20_000;

/**
 * Room and user ids in a filter to be stored must be ids (400 M_INVALID_PARAM
 * otherwise), so a mistyped filter is refused when made rather than
 * silently matching nothing later (Complement: TestFilter).
 */
function checkFilterIds(filter: Record<string, unknown>): void {
  const obj = (v: unknown): Record<string, unknown> | undefined =>
    typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  const ids = (f: Record<string, unknown> | undefined, where: string) => {
    if (!f) return;
    for (const key of ["rooms", "not_rooms"]) {
      const list = f[key];
      if (Array.isArray(list)) for (const id of list) if (typeof id !== "string" || !isValidRoomId(id)) throw new MatrixError(400, "M_INVALID_PARAM", `${where}.${key}: ${JSON.stringify(id)} is not a room id`);
    }
    for (const key of ["senders", "not_senders"]) {
      const list = f[key];
      if (Array.isArray(list)) for (const id of list) if (typeof id !== "string" || !isValidUserId(id)) throw new MatrixError(400, "M_INVALID_PARAM", `${where}.${key}: ${JSON.stringify(id)} is not a user id`);
    }
  };
  const room = obj(filter.room);
  ids(room, "room");
  for (const part of ["timeline", "state", "ephemeral", "account_data"]) ids(obj(room?.[part]), `room.${part}`);
  ids(obj(filter.presence), "presence");
  ids(obj(filter.account_data), "account_data");
}

/** A /sync answer, written by hand: its presence comes as JSON text made once for everyone. */
function answer(ctx: { body: unknown; type: string }, body: Readonly<Record<string, unknown>>): void {
  ctx.type = "application/json";
  ctx.body = stringifyObject(body);
}

/** !opaque:server before v12, !hash after: a leading "!" and something after it, no NUL. */
function isValidRoomId(id: string): boolean {
  return id.length > 1 && id.startsWith("!") && !id.includes("\u0000") && Buffer.byteLength(id, "utf8") <= 255;
}

export function registerSync(router: Router, hs: ServerContext): void {
  const builder = new SyncBuilder(hs);
  // Stored filters never change, and every poll of a client names its filter.
  const parsedFilters = new Lru<string, SyncFilter>(FILTER_CACHE_SIZE);

  router.post(`${PREFIX}/user/:userId/filter`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, hs.config.max_request_body_bytes);
    if (ctx.params.userId !== me.userId) throw forbidden("Cannot create filters for other users");
    parseSyncFilter(body);
    checkFilterIds(body);
    const [row] = await hs.db.knex("filters").insert({ user_id: me.userId, json: JSON.stringify(body) }).returning("filter_id");
    const id = typeof row === "object" ? (row as { filter_id: number }).filter_id : row;
    ctx.body = { filter_id: String(id) };
  });

  router.get(`${PREFIX}/user/:userId/filter/:filterId`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    if (ctx.params.userId !== me.userId) throw forbidden("Cannot read filters of other users");
    const json = await storedFilter(me.userId, ctx.params.filterId);
    if (json === undefined) throw notFound("No such filter");
    ctx.body = JSON.parse(json);
  });

  async function storedFilter(userId: string, id: string): Promise<string | undefined> {
    if (!/^\d{1,15}$/.test(id)) return undefined;
    const row = await hs.db.knex("filters").where({ user_id: userId, filter_id: Number(id) }).first("json");
    return row?.json;
  }

  async function resolveFilter(userId: string, raw: unknown): Promise<SyncFilter> {
    if (raw === undefined) return EMPTY_FILTER;
    if (typeof raw !== "string") throw new MatrixError(400, "M_INVALID_PARAM", "filter must be given once");
    if (raw.trimStart().startsWith("{")) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw);
      } catch {
        throw new MatrixError(400, "M_NOT_JSON", "filter is not JSON");
      }
      return parseSyncFilter(parsed);
    }
    const key = pairKey(userId, raw);
    const held = parsedFilters.get(key);
    if (held) return held;
    const json = await storedFilter(userId, raw);
    if (json === undefined) throw new MatrixError(404, "M_NOT_FOUND", "No such filter");
    const filter = parseSyncFilter(JSON.parse(json));
    parsedFilters.set(key, filter);
    return filter;
  }

  router.get(`${PREFIX}/sync`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const q = ctx.query;
    const sinceRaw = typeof q.since === "string" ? q.since : undefined;
    const since = sinceRaw === undefined ? null : parseSyncToken(sinceRaw);
    const timeoutRaw = typeof q.timeout === "string" ? q.timeout : "0";
    if (!/^\d+$/.test(timeoutRaw)) throw new MatrixError(400, "M_INVALID_PARAM", "timeout must be a non-negative integer");
    const timeout = Math.min(Number(timeoutRaw), MAX_TIMEOUT_MS);
    const fullState = q.full_state === "true";
    const filter = await resolveFilter(me.userId, q.filter);
    const setPresence = typeof q.set_presence === "string" ? q.set_presence : "online";
    if (!["online", "offline", "unavailable"].includes(setPresence)) throw new MatrixError(400, "M_INVALID_PARAM", "Invalid set_presence");
    if (setPresence !== "offline") hs.presence.set(me.userId, setPresence as "online" | "unavailable", hs.presence.get(me.userId)?.statusMsg);

    let generation = hs.notifier.generation(me.userId);
    let result = await builder.build(me, since, filter, fullState);
    if (since === null || fullState || !result.empty || timeout === 0) {
      answer(ctx, result.body);
      return;
    }
    const deadline = Date.now() + timeout;
    // The client may hang up while we wait; then there is nobody to answer, and the wait ends at once.
    const hungUp = new AbortController();
    const onClose = () => hungUp.abort();
    ctx.res.once("close", onClose);
    try {
      while (result.empty && !hungUp.signal.aborted) {
        const woken = await hs.notifier.wait(me.userId, generation, deadline - Date.now(), hungUp.signal);
        if (!woken) break;
        generation = hs.notifier.generation(me.userId);
        result = await builder.build(me, since, filter, false);
      }
    } finally {
      ctx.res.off("close", onClose);
    }
    // Nothing for the user: the same token back, so the client's next poll starts where this one did.
    answer(ctx, result.empty ? { ...result.body, next_batch: sinceRaw } : result.body);
  });
}
