/**
 * Sending and reading room events: /send, /state, /redact, /event,
 * /members, /joined_members, /messages.
 */
import type Router from "@koa/router";
import type { Context } from "koa";
import type { ServerContext } from "../src/context.js";
import { withoutIgnored } from "../src/rooms/ignored.js";
import type { CommitHook } from "../src/engine/persist.js";
import { canonicalJson } from "../src/crypto/canonical-json.js";
import { requireUser, type Requester } from "../src/http/auth.js";
import { readJsonObject } from "../src/http/body.js";
import { MatrixError, badJson, forbidden, invalidParam, notFound } from "../src/http/errors.js";
import { creators, powerLevelsOf, userPowerLevel } from "../src/room/power-levels.js";
import { stateKey, type JsonObject, type RoomEvent } from "../src/room/types.js";
import { isValidRoomAlias, serverNameOf } from "../src/room/identifiers.js";
import type { RoomAccess } from "../src/rooms/access.js";
import type { RoomClientStore } from "../src/rooms/room-data.js";
import { visibleEvents } from "../src/rooms/visibility.js";
import { formatRoomPosition, parseRoomPosition } from "../src/sync/tokens.js";
import { KeyedMutex } from "../src/util/keyed-mutex.js";
import { RelationAggregator } from "../src/relations/aggregations.js";
import { checkLocalRelation } from "../src/relations/rules.js";
import { RelationStore } from "../src/storage/relation-store.js";

const PREFIX = "/_matrix/client/v3";
const MAX_LIMIT = 1000;

/** v12 (privileged creators): creators hold infinite power, so power levels that list them are malformed (400, as Synapse). */
async function checkCreatorsNotListed(hs: ServerContext, roomId: string, content: JsonObject): Promise<void> {
  const rules = await hs.localEvents.rulesOf(roomId);
  if (!rules.privilegedCreators || typeof content.users !== "object" || content.users === null) return;
  const createId = (await hs.states.currentState(roomId)).get(stateKey("m.room.create", ""));
  const create = createId === undefined ? undefined : await hs.events.getEvent(createId);
  if (!create) return;
  for (const c of creators(create.event, rules)) {
    if (Object.hasOwn(content.users, c)) throw badJson(`users must not list the room creator ${c}`);
  }
}

/**
 * What a local user may publish as the room's canonical alias: well-formed
 * aliases, and those of this server existing and pointing at this room
 * (400 M_INVALID_PARAM / M_BAD_ALIAS otherwise), as the spec asks servers
 * to check. Other servers' aliases are taken as given.
 */
async function checkCanonicalAlias(hs: ServerContext, roomId: string, content: JsonObject): Promise<void> {
  const aliases: unknown[] = [];
  if (content.alias !== undefined && content.alias !== null) aliases.push(content.alias);
  if (content.alt_aliases !== undefined) {
    if (!Array.isArray(content.alt_aliases)) throw invalidParam("alt_aliases must be a list of aliases");
    aliases.push(...content.alt_aliases);
  }
  for (const alias of aliases) {
    if (typeof alias !== "string" || !isValidRoomAlias(alias)) throw invalidParam(`${JSON.stringify(alias)} is not a valid room alias`);
  }
  for (const alias of aliases as string[]) {
    if (serverNameOf(alias) !== hs.config.server_name) continue;
    const row = await hs.aliases.get(alias);
    if (!row) throw new MatrixError(400, "M_BAD_ALIAS", `Room alias ${alias} does not exist`);
    if (row.roomId !== roomId) throw new MatrixError(400, "M_BAD_ALIAS", `Room alias ${alias} points to another room`);
  }
}

interface EventFilter {
  types?: string[];
  notTypes?: string[];
  senders?: string[];
  notSenders?: string[];
  containsUrl?: boolean;
  lazyLoadMembers: boolean;
}

function stringList(v: unknown, key: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) throw invalidParam(`filter ${key} must be a list of strings`);
  return v as string[];
}

function parseFilter(raw: unknown): EventFilter {
  if (raw === undefined) return { lazyLoadMembers: false };
  if (typeof raw !== "string") throw invalidParam("filter must be given once");
  let f: unknown;
  try {
    f = JSON.parse(raw);
  } catch {
    // Stored filter ids (POST /user/{userId}/filter) are not held yet.
    throw invalidParam("filter must be a JSON RoomEventFilter");
  }
  if (typeof f !== "object" || f === null || Array.isArray(f)) throw invalidParam("filter must be a JSON object");
  const o = f as Record<string, unknown>;
  if (o.lazy_load_members !== undefined && typeof o.lazy_load_members !== "boolean") throw invalidParam("lazy_load_members must be a boolean");
  if (o.contains_url !== undefined && typeof o.contains_url !== "boolean") throw invalidParam("contains_url must be a boolean");
  return {
    containsUrl: o.contains_url as boolean | undefined,
    types: stringList(o.types, "types"),
    notTypes: stringList(o.not_types, "not_types"),
    senders: stringList(o.senders, "senders"),
    notSenders: stringList(o.not_senders, "not_senders"),
    lazyLoadMembers: o.lazy_load_members === true,
  };
}

/** A filter type pattern: `*` matches any run of characters. */
function typeMatches(pattern: string, type: string): boolean {
  if (!pattern.includes("*")) return pattern === type;
  const re = new RegExp(`^${pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`);
  return re.test(type);
}

function passes(f: EventFilter, ev: RoomEvent): boolean {
  if (f.notTypes?.some((p) => typeMatches(p, ev.type))) return false;
  if (f.types && !f.types.some((p) => typeMatches(p, ev.type))) return false;
  if (f.notSenders?.includes(ev.sender)) return false;
  if (f.senders && !f.senders.includes(ev.sender)) return false;
  // contains_url: true keeps only events with a content.url string, false only those without.
  if (f.containsUrl !== undefined && (typeof ev.content.url === "string") !== f.containsUrl) return false;
  return true;
}

function queryString(ctx: Context, key: string): string | undefined {
  const v = ctx.query[key];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw invalidParam(`${key} must be given once`);
  return v;
}

export function registerRoomEvents(router: Router, hs: ServerContext, store: RoomClientStore, access: RoomAccess): void {
  const limit = hs.config.max_request_body_bytes;
  const txnLocks = new KeyedMutex();
  const relations = new RelationStore(hs.db);
  const aggregator = new RelationAggregator(hs, relations);
  /** Events as a user is shown them: redactions applied, bundled aggregations added (one batch per page). */
  const show = async (me: Requester, events: RoomEvent[]): Promise<JsonObject[]> => {
    const rendered = await access.render(events);
    await aggregator.bundle(me.userId, events, rendered);
    // The device that sent an event sees its transaction id on it (unsigned.transaction_id), here as in /sync.
    const own = events.filter((e) => e.sender === me.userId).map((e) => e.eventId);
    const txnIds = own.length && me.deviceId ? await store.txnIdsOf(me.userId, me.deviceId, own) : new Map<string, string>();
    for (let i = 0; i < events.length; i++) {
      const txnId = txnIds.get(events[i].eventId);
      if (txnId === undefined) continue;
      rendered[i].unsigned = { ...((rendered[i].unsigned as JsonObject | undefined) ?? {}), transaction_id: txnId };
    }
    return rendered;
  };

  /**
   * Run `send` once per (user, device, txnId): a retry answers the event
   * the first attempt made and persists nothing. (Recorded after the event
   * commits: a crash between the two would let a retry send again.)
   */
  const once = async (me: Requester, txnId: string, roomId: string, send: (record: CommitHook) => Promise<string>): Promise<string> =>
    txnLocks.run(`${me.userId}\u0000${me.deviceId}\u0000${txnId}`, async () => {
      const prior = await store.txnEvent(me.userId, me.deviceId, txnId);
      if (prior) return prior.eventId;
      hs.rateLimits.message.take(me.userId);
      return send((trx, event) => store.recordTxn(trx, me.userId, me.deviceId, txnId, roomId, event.eventId));
    });

  /**
   * A redaction: the redacted event must be in the room, and (room
   * versions 3+, where the auth rules no longer check it) the redactor must
   * be its sender or hold the redact level. Recorded once accepted.
   */
  const redact = async (me: Requester, roomId: string, redacts: string, content: JsonObject, record: CommitHook): Promise<string> => {
    await access.requireJoined(roomId, me.userId);
    const target = await hs.events.getEvent(redacts);
    if (target && target.event.roomId !== roomId) throw notFound(`Event ${redacts} not found in ${roomId}`);
    // An event we do not hold (another server's we never received) may still be redacted by those who may redact others' events: the redaction goes out for the servers that have it (Complement: TestFederationRedactSendsWithoutEvent).
    if (!target || target.event.sender !== me.userId) {
      const rules = await hs.localEvents.rulesOf(roomId);
      const current = await hs.states.currentState(roomId);
      const lookup = await hs.stateReader.authLookup(current, [["m.room.create", ""], ["m.room.power_levels", ""]]);
      if (userPowerLevel(lookup, me.userId, rules) < powerLevelsOf(lookup, rules).redact) {
        throw forbidden("You don't have permission to redact events");
      }
    }
    const body = { ...content };
    delete body.redacts; // placed by the room version's rules (top level before v11)
    const persisted = await hs.localEvents.send(roomId, { type: "m.room.redaction", sender: me.userId, content: body, redacts }, record);
    return persisted.event.eventId;
  };

  router.put(`${PREFIX}/rooms/:roomId/send/:eventType/:txnId`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const content = (await readJsonObject(ctx, limit)) as JsonObject;
    const { roomId, eventType, txnId } = ctx.params;
    const eventId = await once(me, txnId, roomId, async (record) => {
      if (eventType === "m.room.redaction") {
        // The spec (v1.18) has /send accept redactions in every room version.
        if (typeof content.redacts !== "string") throw badJson("m.room.redaction needs content.redacts, an event id");
        return redact(me, roomId, content.redacts, content, record);
      }
      await access.requireRoom(roomId);
      // The relation rules are checked in the event's own transaction, under the room's lock.
      const checked: CommitHook = async (trx, event) => {
        await checkLocalRelation(trx, hs.events, relations, event);
        await record(trx, event);
      };
      return (await hs.localEvents.send(roomId, { type: eventType, sender: me.userId, content }, checked)).event.eventId;
    });
    ctx.body = { event_id: eventId };
  });

  router.put(`${PREFIX}/rooms/:roomId/redact/:eventId/:txnId`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, limit);
    const content: JsonObject = {};
    if (body.reason !== undefined) {
      if (typeof body.reason !== "string") throw badJson("reason must be a string");
      content.reason = body.reason;
    }
    const { roomId, eventId, txnId } = ctx.params;
    ctx.body = { event_id: await once(me, txnId, roomId, (record) => redact(me, roomId, eventId, content, record)) };
  });

  const putState = async (ctx: Context, type: string, sk: string) => {
    const me = await requireUser(ctx, hs.accounts);
    const content = (await readJsonObject(ctx, limit)) as JsonObject;
    const roomId = ctx.params.roomId;
    await access.requireRoom(roomId);
    if (type === "m.room.canonical_alias" && sk === "") await checkCanonicalAlias(hs, roomId, content);
    // A room has one create event, made with it (the auth rules would refuse another; this says why, as a bad request).
    if (type === "m.room.create") throw badJson("A room's m.room.create event cannot be replaced");
    if (type === "m.room.power_levels" && sk === "") await checkCreatorsNotListed(hs, roomId, content);
    // The same content from the same sender again: answer the event already there (as Synapse).
    const existingId = (await hs.states.currentState(roomId)).get(stateKey(type, sk));
    if (existingId) {
      const existing = await hs.events.getEvent(existingId);
      if (existing && existing.event.sender === me.userId && canonicalJson(existing.event.content) === canonicalJson(content)) {
        const m = await store.membership(roomId, me.userId);
        if (m?.membership === "join") {
          ctx.body = { event_id: existingId };
          return;
        }
      }
    }
    hs.rateLimits.message.take(me.userId);
    const persisted = await hs.localEvents.send(roomId, { type, stateKey: sk, sender: me.userId, content });
    ctx.body = { event_id: persisted.event.eventId };
  };
  router.put(`${PREFIX}/rooms/:roomId/state/:eventType/:stateKey`, (ctx) => putState(ctx, ctx.params.eventType, ctx.params.stateKey));
  router.put(`${PREFIX}/rooms/:roomId/state/:eventType`, (ctx) => putState(ctx, ctx.params.eventType, ""));

  const getState = async (ctx: Context, type: string, sk: string) => {
    const me = await requireUser(ctx, hs.accounts);
    const state = await access.readableState(ctx.params.roomId, me.userId);
    const id = state.get(stateKey(type, sk));
    const stored = id === undefined ? undefined : await hs.events.getEvent(id);
    if (!stored) throw notFound(`No ${type} state with key ${JSON.stringify(sk)}`);
    const [ev] = await access.render([stored.event]);
    ctx.body = queryString(ctx, "format") === "event" ? ev : ev.content;
  };
  router.get(`${PREFIX}/rooms/:roomId/state/:eventType/:stateKey`, (ctx) => getState(ctx, ctx.params.eventType, ctx.params.stateKey));
  router.get(`${PREFIX}/rooms/:roomId/state/:eventType`, (ctx) => getState(ctx, ctx.params.eventType, ""));

  router.get(`${PREFIX}/rooms/:roomId/state`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const state = await access.readableState(ctx.params.roomId, me.userId);
    ctx.body = await access.render(await access.loadState(state));
  });

  router.get(`${PREFIX}/rooms/:roomId/event/:eventId`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const { roomId, eventId } = ctx.params;
    await access.requireRoom(roomId);
    const stored = await hs.events.getEvent(eventId);
    const missing = () => notFound(`Event ${eventId} not found`);
    if (!stored || stored.event.roomId !== roomId || stored.rejectedReason !== null || stored.outlier) throw missing();
    const visible = await visibleEvents(hs, me.userId, roomId, [stored.event]);
    if (visible.length === 0) throw missing(); // not visible: indistinguishable from absent, as Synapse
    ctx.body = (await show(me, visible))[0];
  });

  router.get(`${PREFIX}/rooms/:roomId/members`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const membership = queryString(ctx, "membership");
    const notMembership = queryString(ctx, "not_membership");
    // `at` (members at a stream position) is ignored: the state shown is the one the user may read now.
    const state = await access.readableState(ctx.params.roomId, me.userId);
    const members = (await access.loadState(state)).filter((e) => e.type === "m.room.member");
    const chosen = members.filter((e) => {
      const m = e.content.membership;
      if (membership !== undefined && m !== membership) return false;
      if (notMembership !== undefined && m === notMembership) return false;
      return true;
    });
    ctx.body = { chunk: await access.render(chosen) };
  });

  router.get(`${PREFIX}/rooms/:roomId/joined_members`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    // Who is in the room now, for those in it now (or anyone, when world readable): not a former member's view at their leave (Complement: TestRoomState).
    const roomId = ctx.params.roomId;
    await access.requireRoom(roomId);
    if ((await store.membership(roomId, me.userId))?.membership !== "join" && !(await access.isWorldReadable(roomId))) {
      throw forbidden(`${me.userId} is not in room ${roomId}`);
    }
    const state = await hs.states.currentState(roomId);
    const joined: JsonObject = {};
    for (const e of await access.loadState(state)) {
      if (e.type !== "m.room.member" || e.content.membership !== "join" || e.stateKey === undefined) continue;
      const entry: JsonObject = {};
      // Absent fields are left out: the spec's schema has them as strings, so not null as Synapse sends (Complement's TestRoomState wants avatar_url present).
      if (typeof e.content.displayname === "string") entry.display_name = e.content.displayname;
      if (typeof e.content.avatar_url === "string") entry.avatar_url = e.content.avatar_url;
      joined[e.stateKey] = entry;
    }
    ctx.body = { joined };
  });

  router.get(`${PREFIX}/rooms/:roomId/messages`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const roomId = ctx.params.roomId;
    // Who may read comes before what was asked: a room unknown here or forgotten is 403, as Synapse answers (Complement: TestRoomForget, TestFetchMessagesFromNonExistentRoom).
    if ((await hs.rooms.version(roomId)) === undefined) throw forbidden(`${me.userId} is not in room ${roomId}`);
    await access.requireTimelineAccess(roomId, me.userId);
    if ((await store.forgottenRooms(me.userId)).has(roomId)) throw forbidden(`${me.userId} has forgotten room ${roomId}`);
    const dirRaw = queryString(ctx, "dir");
    if (dirRaw === undefined) throw new MatrixError(400, "M_MISSING_PARAM", "dir is required");
    if (dirRaw !== "b" && dirRaw !== "f") throw invalidParam("dir must be b or f");
    const dir = dirRaw;
    const limitRaw = queryString(ctx, "limit");
    let max = 10;
    if (limitRaw !== undefined) {
      if (!/^\d+$/.test(limitRaw)) throw invalidParam("limit must be a non-negative integer");
      max = Math.min(Number(limitRaw), MAX_LIMIT);
    }
    const fromRaw = queryString(ctx, "from");
    const toRaw = queryString(ctx, "to");
    const from = fromRaw !== undefined ? parseRoomPosition(fromRaw) : dir === "b" ? hs.eventStream.position : 0;
    const to = toRaw !== undefined ? parseRoomPosition(toRaw) : undefined;
    const filter = parseFilter(ctx.query.filter);

    const chunk: RoomEvent[] = [];
    let cursor = from;
    let exhausted = false;
    let backfilled = false;
    const batchSize = Math.max(20, Math.min(max * 2, MAX_LIMIT));
    while (chunk.length < max && !exhausted) {
      const rows = await store.page(roomId, dir, cursor, to, batchSize);
      const loaded = await hs.events.getEvents(rows.map((r) => r.eventId));
      const candidates = rows.map((r) => loaded.get(r.eventId)!.event).filter((e) => passes(filter, e));
      const shown = await withoutIgnored(hs, me.userId, candidates);
      const visible = new Set((await visibleEvents(hs, me.userId, roomId, shown)).map((e) => e.eventId));
      let consumed = 0;
      for (const row of rows) {
        consumed++;
        cursor = dir === "b" ? row.streamOrdering - 1 : row.streamOrdering;
        if (visible.has(row.eventId)) chunk.push(loaded.get(row.eventId)!.event);
        if (chunk.length >= max) break;
      }
      if (rows.length < batchSize && consumed === rows.length) exhausted = true;
      // Past the start of what we hold of a room shared with other servers: ask them for older history, once per request.
      if (exhausted && dir === "b" && !backfilled && to === undefined) {
        backfilled = true;
        if ((await hs.remote.backfill(roomId, Math.max(max - chunk.length, 10)).catch(() => 0)) > 0) exhausted = false;
      }
    }

    const out: JsonObject = { start: fromRaw ?? formatRoomPosition(from), chunk: await show(me, chunk) };
    // A page with events always says where the next one starts (one more request then finds nothing and no end), as Synapse does.
    if (!exhausted || chunk.length > 0) out.end = formatRoomPosition(cursor);
    if (filter.lazyLoadMembers && chunk.length) {
      // Members of the chunk's senders, from the state at its first event (as Synapse), else at its last:
      // paging back to the room's start, the first event's state may predate a sender's join.
      const ids = new Set<string>();
      const senders = [...new Set(chunk.map((e) => e.sender))];
      const missing = new Set(senders);
      for (const at of [chunk[0], chunk[chunk.length - 1]]) {
        const stored = await hs.events.getEvent(at.eventId);
        if (stored?.stateSnapshot == null) continue;
        const snap = await hs.states.getSnapshot(stored.stateSnapshot);
        for (const sender of [...missing]) {
          const id = snap.get(stateKey("m.room.member", sender));
          if (id !== undefined) {
            ids.add(id);
            missing.delete(sender);
          }
        }
        if (missing.size === 0) break;
      }
      const members = [...(await hs.events.getEvents([...ids])).values()].map((s) => s.event);
      out.state = await access.render(members);
    }
    ctx.body = out;
  });

  router.get(`${PREFIX}/rooms/:roomId/context/:eventId`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const { roomId, eventId } = ctx.params;
    const limitRaw = queryString(ctx, "limit");
    if (limitRaw !== undefined && !/^\d+$/.test(limitRaw)) throw invalidParam("limit must be a non-negative integer");
    const limit = Math.min(limitRaw === undefined ? 10 : Number(limitRaw), MAX_LIMIT);
    const filter = parseFilter(ctx.query.filter);
    await access.requireTimelineAccess(roomId, me.userId);
    const stored = await hs.events.getEvent(eventId);
    const missing = () => notFound(`Event ${eventId} not found`);
    if (!stored || stored.event.roomId !== roomId || stored.rejectedReason !== null || stored.streamOrdering === null) throw missing();
    if ((await visibleEvents(hs, me.userId, roomId, [stored.event])).length === 0) throw missing();
    const at = stored.streamOrdering;

    // Half the limit on each side, as Synapse: the extra one goes after.
    const side = async (dir: "b" | "f", want: number): Promise<RoomEvent[]> => {
      const out: RoomEvent[] = [];
      let cursor = dir === "b" ? at - 1 : at;
      while (out.length < want) {
        const rows = await store.page(roomId, dir, cursor, undefined, Math.max(want * 2, 20));
        if (rows.length === 0) break;
        const loaded = await hs.events.getEvents(rows.map((r) => r.eventId));
        const candidates = rows.map((r) => loaded.get(r.eventId)!.event).filter((e) => passes(filter, e));
        for (const e of await visibleEvents(hs, me.userId, roomId, await withoutIgnored(hs, me.userId, candidates))) {
          if (out.length < want) out.push(e);
        }
        cursor = rows[rows.length - 1].streamOrdering + (dir === "b" ? -1 : 0);
      }
      return out;
    };
    const before = await side("b", Math.floor(limit / 2));
    const after = await side("f", limit - Math.floor(limit / 2));
    const orderOf = async (e: RoomEvent | undefined, fallback: number) => (e ? (await hs.events.getEvent(e.eventId))?.streamOrdering ?? fallback : fallback);
    const startAt = (await orderOf(before[before.length - 1], at)) - 1;
    const endAt = await orderOf(after[after.length - 1], at);

    // The state at the last event returned; with lazy loading, only the members who speak.
    const lastStored = after.length ? await hs.events.getEvent(after[after.length - 1].eventId) : stored;
    const snapshot = lastStored?.stateSnapshot == null ? new Map<string, string>() : await hs.states.getSnapshot(lastStored.stateSnapshot);
    let stateEvents = await access.loadState(snapshot);
    if (filter.lazyLoadMembers) {
      const senders = new Set([...before, stored.event, ...after].map((e) => e.sender));
      stateEvents = stateEvents.filter((e) => e.type !== "m.room.member" || senders.has(e.stateKey ?? ""));
    }
    // One batch of aggregations for the event and both sides.
    const all = await show(me, [stored.event, ...before, ...after]);
    ctx.body = {
      event: all[0],
      events_before: all.slice(1, 1 + before.length),
      events_after: all.slice(1 + before.length),
      start: formatRoomPosition(startAt),
      end: formatRoomPosition(endAt),
      state: await access.render(stateEvents),
    };
  });
}
