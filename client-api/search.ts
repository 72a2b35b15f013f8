/**
 * POST /search: full-text search of room events (src/search/). Only the
 * room_events category exists; the request is checked here, field by
 * field, so the searcher sees only well-formed criteria.
 */
import type Router from "@koa/router";
import type { ServerContext } from "../src/context.js";
import { requireUser } from "../src/http/auth.js";
import { readJsonObject } from "../src/http/body.js";
import { badJson, invalidParam, missingParam } from "../src/http/errors.js";
import { optionalBoolean, optionalObject, requireString } from "../src/http/params.js";
import { RoomAccess } from "../src/rooms/access.js";
import { RoomClientStore } from "../src/rooms/room-data.js";
import { RoomEventSearcher, type GroupKey, type RoomEventSearch } from "../src/search/room-search.js";
import { SEARCH_KEYS, searchWords, type SearchKey } from "../src/search/terms.js";
import { SearchStore } from "../src/storage/search-store.js";

const PREFIX = "/_matrix/client/v3";
const DEFAULT_LIMIT = 10;
const MAX_LIMIT = 100;
const DEFAULT_CONTEXT = 5;
const MAX_CONTEXT = 50;

type Body = Record<string, unknown>;

function stringList(o: Body, key: string): string[] | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) throw badJson(`${key} must be a list of strings`);
  return v as string[];
}

function count(o: Body, key: string, fallback: number, min: number, max: number): number {
  const v = o[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) throw invalidParam(`${key} must be an integer of at least ${min}`);
  return Math.min(v, max);
}

export function parseRoomEventsCriteria(criteria: Body): RoomEventSearch {
  const term = requireString(criteria, "search_term");
  const keys = stringList(criteria, "keys") ?? [...SEARCH_KEYS];
  for (const k of keys) if (!(SEARCH_KEYS as readonly string[]).includes(k)) throw invalidParam(`Unknown search key ${k}`);
  const filter = optionalObject(criteria, "filter") ?? {};
  const order = criteria.order_by ?? "rank";
  if (order !== "rank" && order !== "recent") throw invalidParam("order_by must be rank or recent");
  const contextRaw = optionalObject(criteria, "event_context");
  const groupings = optionalObject(criteria, "groupings");
  const groupBy: GroupKey[] = [];
  if (groupings?.group_by !== undefined) {
    if (!Array.isArray(groupings.group_by)) throw badJson("groupings.group_by must be a list");
    for (const g of groupings.group_by) {
      const key = (g as { key?: unknown } | null)?.key;
      if (key !== "room_id" && key !== "sender") throw invalidParam("A group key must be room_id or sender");
      if (!groupBy.includes(key)) groupBy.push(key);
    }
  }
  return {
    words: searchWords(term),
    keys: keys as SearchKey[],
    rooms: stringList(filter, "rooms"),
    notRooms: stringList(filter, "not_rooms"),
    senders: stringList(filter, "senders"),
    notSenders: stringList(filter, "not_senders"),
    types: stringList(filter, "types"),
    notTypes: stringList(filter, "not_types"),
    limit: count(filter, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
    order,
    context: contextRaw && {
      before: count(contextRaw, "before_limit", DEFAULT_CONTEXT, 0, MAX_CONTEXT),
      after: count(contextRaw, "after_limit", DEFAULT_CONTEXT, 0, MAX_CONTEXT),
      includeProfile: optionalBoolean(contextRaw, "include_profile") ?? false,
    },
    includeState: optionalBoolean(criteria, "include_state") ?? false,
    groupBy,
  };
}

export function registerSearch(router: Router, hs: ServerContext): void {
  const store = new RoomClientStore(hs.db);
  const searcher = new RoomEventSearcher(hs, new SearchStore(hs.db), store, new RoomAccess(hs, store));

  router.post(`${PREFIX}/search`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, hs.config.max_request_body_bytes);
    const categories = optionalObject(body, "search_categories");
    if (!categories) throw missingParam("Missing search_categories");
    const nextBatch = ctx.query.next_batch;
    if (nextBatch !== undefined && typeof nextBatch !== "string") throw invalidParam("next_batch must be given once");
    const criteria = optionalObject(categories, "room_events");
    const results: Body = {};
    if (criteria) results.room_events = await searcher.search(me.userId, parseRoomEventsCriteria(criteria), nextBatch);
    ctx.body = { search_categories: results };
  });
}
