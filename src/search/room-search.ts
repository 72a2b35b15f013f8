/**
 * Searching room events (POST /search, category room_events) for one user:
 * which rooms, which of their events the user may see, the order, the
 * pages, and what is returned around each result.
 *
 * Rooms searched: those the user is joined to or has left or been banned
 * from (the spec's "rooms they have been in"), not forgotten ones. The
 * index is queried for those rooms; every hit then passes the same
 * history-visibility check as /messages, so a room left long ago shows
 * only what the user could see while there, and a member who joined a
 * "joined"-visibility room sees nothing from before.
 *
 * Pages: hits are read in order in batches and checked; the token records
 * where the reading stopped (an offset into the ranked hits, or a stream
 * position for "recent"). The count is the visible hits before the page,
 * on it, and found in a bounded look further ahead: a lower bound once
 * that look stops short, which the spec allows ("approximate").
 */
import type { ServerContext } from "../context.js";
import { invalidParam } from "../http/errors.js";
import { stateKey, type JsonObject, type RoomEvent } from "../room/types.js";
import type { RoomAccess } from "../rooms/access.js";
import { withoutIgnored } from "../rooms/ignored.js";
import type { RoomClientStore } from "../rooms/room-data.js";
import { visibleEvents } from "../rooms/visibility.js";
import type { SearchHit, SearchQuery, SearchStore } from "../storage/search-store.js";
import { formatRoomPosition } from "../sync/tokens.js";
import { highlightsIn, type SearchKey } from "./terms.js";
import { RelationAggregator } from "../relations/aggregations.js";
import { RelationStore } from "../storage/relation-store.js";

export type GroupKey = "room_id" | "sender";

export interface RoomEventSearch {
  readonly words: readonly string[];
  readonly keys: readonly SearchKey[];
  readonly rooms?: readonly string[];
  readonly notRooms?: readonly string[];
  readonly senders?: readonly string[];
  readonly notSenders?: readonly string[];
  readonly types?: readonly string[];
  readonly notTypes?: readonly string[];
  readonly limit: number;
  readonly order: "rank" | "recent";
  readonly context?: { readonly before: number; readonly after: number; readonly includeProfile: boolean };
  readonly includeState: boolean;
  readonly groupBy: readonly GroupKey[];
}

/** Where a page starts: what the next_batch token carries. */
interface Cursor {
  readonly order: "rank" | "recent";
  /** rank: hits already read; recent: the stream position read down to (exclusive). */
  readonly at: number;
  /** Visible results returned on earlier pages, for the count. */
  readonly seen: number;
  /** A group's token narrows the search to one room or one sender. */
  readonly room?: string;
  readonly sender?: string;
}

/** How many hits past the page are checked to count results. */
const COUNT_LOOKAHEAD = 200;

export function encodeCursor(c: Cursor): string {
  const o: Record<string, unknown> = { o: c.order, a: c.at, n: c.seen };
  if (c.room !== undefined) o.r = c.room;
  if (c.sender !== undefined) o.s = c.sender;
  return Buffer.from(JSON.stringify(o)).toString("base64url");
}

export function decodeCursor(token: string, order: "rank" | "recent"): Cursor {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as Record<string, unknown>;
  } catch {
    throw invalidParam("Invalid next_batch token");
  }
  const int = (v: unknown) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
  if (typeof o !== "object" || o === null || (o.o !== "rank" && o.o !== "recent") || !int(o.a) || !int(o.n)) {
    throw invalidParam("Invalid next_batch token");
  }
  if (o.o !== order) throw invalidParam("next_batch belongs to a search with another order_by");
  if ((o.r !== undefined && typeof o.r !== "string") || (o.s !== undefined && typeof o.s !== "string")) throw invalidParam("Invalid next_batch token");
  return { order: o.o, at: o.a as number, seen: o.n as number, room: o.r as string | undefined, sender: o.s as string | undefined };
}

function typeMatches(pattern: string, type: string): boolean {
  if (!pattern.includes("*")) return pattern === type;
  const re = new RegExp(`^${pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`);
  return re.test(type);
}

interface Found {
  readonly hit: SearchHit;
  readonly event: RoomEvent;
}

export class RoomEventSearcher {
  constructor(
    private readonly hs: ServerContext,
    private readonly index: SearchStore,
    private readonly store: RoomClientStore,
    private readonly access: RoomAccess,
    private readonly aggregator = new RelationAggregator(hs, new RelationStore(hs.db)),
  ) {}

  /** The rooms whose events the user may search: joined, left or banned, not forgotten. */
  async roomsOf(userId: string): Promise<string[]> {
    const rows: { room_id: string }[] = await this.hs.db.knex("room_memberships")
      .where({ user_id: userId })
      .whereIn("membership", ["join", "leave", "ban"])
      .select("room_id");
    const forgotten = await this.store.forgottenRooms(userId);
    return rows.map((r) => r.room_id).filter((id) => !forgotten.has(id));
  }

  async search(userId: string, req: RoomEventSearch, token: string | undefined): Promise<JsonObject> {
    const cursor: Cursor = token !== undefined ? decodeCursor(token, req.order) : { order: req.order, at: req.order === "rank" ? 0 : Number.MAX_SAFE_INTEGER, seen: 0 };
    let rooms = await this.roomsOf(userId);
    if (req.rooms) rooms = rooms.filter((r) => req.rooms!.includes(r));
    if (req.notRooms) rooms = rooms.filter((r) => !req.notRooms!.includes(r));
    if (cursor.room !== undefined) rooms = rooms.filter((r) => r === cursor.room);
    let senders = req.senders;
    if (cursor.sender !== undefined) senders = (senders ?? [cursor.sender]).filter((s) => s === cursor.sender);

    const query = { words: req.words, roomIds: rooms, keys: req.keys, senders, notSenders: req.notSenders, order: req.order };
    const batch = Math.max(50, req.limit * 2);
    const page: Found[] = [];
    /** The hits read for the page, visible or not: where the next page starts. */
    const read: SearchHit[] = [];
    let readAt = cursor.at;
    let at = cursor.at;
    let counted = 0;
    let lookedAhead = 0;
    let unread = true;
    scan: while (lookedAhead < COUNT_LOOKAHEAD) {
      const hits = await this.index.search({ ...query, from: readAt, limit: batch });
      const visible = await this.check(userId, hits, req);
      for (let i = 0; i < hits.length; i++) {
        const hit = hits[i];
        readAt = req.order === "rank" ? readAt + 1 : hit.streamOrdering;
        const found = visible.get(hit.eventId);
        if (page.length < req.limit) {
          at = readAt;
          read.push(hit);
          if (found) page.push(found);
          continue;
        }
        // Past the page: only counting, and only a bounded distance.
        if (found) counted++;
        if (++lookedAhead >= COUNT_LOOKAHEAD) {
          unread = i < hits.length - 1 || hits.length === batch;
          break scan;
        }
      }
      if (hits.length < batch) {
        unread = false;
        break;
      }
    }
    // A full page always offers a next one (which may come back empty), as Synapse does and clients expect (Complement: TestSearch).
    const hasNext = counted > 0 || unread || (page.length > 0 && page.length >= req.limit);

    const out: JsonObject = {
      count: cursor.seen + page.length + counted,
      highlights: highlightsIn(page.map((f) => f.hit.value), req.words),
      results: await this.results(userId, page, req),
    };
    const nextSeen = cursor.seen + page.length;
    if (hasNext) out.next_batch = encodeCursor({ ...cursor, at, seen: nextSeen });
    if (req.groupBy.length) out.groups = await this.groups(page, req, cursor, at, hasNext, { ...query, read });
    if (req.includeState) {
      const state: JsonObject = {};
      for (const roomId of new Set(page.map((f) => f.event.roomId))) {
        state[roomId] = await this.access.render(await this.access.loadState(await this.access.readableState(roomId, userId)));
      }
      out.state = state;
    }
    return out;
  }

  /** The hits the user may see, by event id: filters, ignored senders, history visibility. */
  private async check(userId: string, hits: readonly SearchHit[], req: RoomEventSearch): Promise<Map<string, Found>> {
    const loaded = await this.hs.events.getEvents(hits.map((h) => h.eventId));
    const byRoom = new Map<string, RoomEvent[]>();
    for (const h of hits) {
      const ev = loaded.get(h.eventId)?.event;
      if (!ev) continue;
      if (req.notTypes?.some((p) => typeMatches(p, ev.type))) continue;
      if (req.types && !req.types.some((p) => typeMatches(p, ev.type))) continue;
      byRoom.set(ev.roomId, [...(byRoom.get(ev.roomId) ?? []), ev]);
    }
    const out = new Map<string, Found>();
    const hitOf = new Map(hits.map((h) => [h.eventId, h]));
    for (const [roomId, events] of byRoom) {
      const shown = await withoutIgnored(this.hs, userId, events);
      for (const ev of await visibleEvents(this.hs, userId, roomId, shown)) out.set(ev.eventId, { hit: hitOf.get(ev.eventId)!, event: ev });
    }
    return out;
  }

  private async results(userId: string, page: readonly Found[], req: RoomEventSearch): Promise<JsonObject[]> {
    const rendered = await this.access.render(page.map((f) => f.event));
    // Results carry bundled aggregations (the spec lists /search among the endpoints that do).
    await this.aggregator.bundle(userId, page.map((f) => f.event), rendered);
    const out: JsonObject[] = [];
    for (let i = 0; i < page.length; i++) {
      const entry: JsonObject = { rank: page[i].hit.rank, result: rendered[i] };
      if (req.context) entry.context = await this.context(userId, page[i], req.context);
      out.push(entry);
    }
    return out;
  }

  /** The events around a result that the user may see, and optionally their senders' profiles at the result. */
  private async context(userId: string, found: Found, opts: NonNullable<RoomEventSearch["context"]>): Promise<JsonObject> {
    const { roomId } = found.event;
    const at = found.hit.streamOrdering;
    const side = async (dir: "b" | "f", want: number): Promise<{ events: RoomEvent[]; edge: number }> => {
      const events: RoomEvent[] = [];
      let cursor = dir === "b" ? at - 1 : at;
      let edge = cursor;
      while (events.length < want) {
        const rows = await this.store.page(roomId, dir, cursor, undefined, Math.max(want * 2, 20));
        if (rows.length === 0) break;
        const loaded = await this.hs.events.getEvents(rows.map((r) => r.eventId));
        const candidates = await withoutIgnored(this.hs, userId, rows.map((r) => loaded.get(r.eventId)!.event));
        const visible = new Set((await visibleEvents(this.hs, userId, roomId, candidates)).map((e) => e.eventId));
        for (const r of rows) {
          if (events.length >= want) break;
          edge = dir === "b" ? r.streamOrdering - 1 : r.streamOrdering;
          if (visible.has(r.eventId)) events.push(loaded.get(r.eventId)!.event);
        }
        cursor = rows[rows.length - 1].streamOrdering + (dir === "b" ? -1 : 0);
      }
      return { events, edge };
    };
    const before = opts.before > 0 ? await side("b", opts.before) : { events: [], edge: at - 1 };
    const after = opts.after > 0 ? await side("f", opts.after) : { events: [], edge: at };
    const out: JsonObject = {
      start: formatRoomPosition(Math.max(0, before.edge)),
      end: formatRoomPosition(after.edge),
      events_before: await this.access.render(before.events),
      events_after: await this.access.render(after.events),
    };
    if (opts.includeProfile) {
      // Historic: the senders' member events in the state at the result.
      const stored = await this.hs.events.getEvent(found.event.eventId);
      const profiles: JsonObject = {};
      if (stored?.stateSnapshot != null) {
        const state = await this.hs.states.getSnapshot(stored.stateSnapshot);
        const senders = new Set([found.event, ...before.events, ...after.events].map((e) => e.sender));
        const ids = [...senders].map((s) => state.get(stateKey("m.room.member", s))).filter((id): id is string => id !== undefined);
        for (const s of (await this.hs.events.getEvents(ids)).values()) {
          const p: JsonObject = {};
          if (typeof s.event.content.displayname === "string") p.displayname = s.event.content.displayname;
          if (typeof s.event.content.avatar_url === "string") p.avatar_url = s.event.content.avatar_url;
          if (s.event.stateKey !== undefined) profiles[s.event.stateKey] = p;
        }
      }
      out.profile_info = profiles;
    }
    return out;
  }

  /**
   * Groups of the page's results. A group's token narrows the search to
   * the group: for "recent" it starts at the same stream position; for
   * "rank", at the group's own offset, the number of its hits among those
   * read so far (this page's and, re-read, the earlier pages').
   */
  private async groups(
    page: readonly Found[],
    req: RoomEventSearch,
    cursor: Cursor,
    at: number,
    hasNext: boolean,
    query: Omit<SearchQuery, "from" | "limit"> & { read: readonly SearchHit[] },
  ): Promise<JsonObject> {
    let readSoFar: readonly SearchHit[] = [];
    if (hasNext && req.order === "rank") {
      const earlier = cursor.at > 0 ? await this.index.search({ ...query, from: 0, limit: cursor.at }) : [];
      readSoFar = [...earlier, ...query.read];
    }
    const out: JsonObject = {};
    for (const key of req.groupBy) {
      const groups: Record<string, { order: number; results: string[]; next_batch?: string }> = {};
      let order = 0;
      for (const f of page) {
        const value = key === "room_id" ? f.event.roomId : f.event.sender;
        const g = (groups[value] ??= { order: ++order, results: [] });
        g.results.push(f.event.eventId);
      }
      if (hasNext) {
        for (const [value, g] of Object.entries(groups)) {
          const groupAt = req.order === "rank" ? readSoFar.filter((h) => (key === "room_id" ? h.roomId : h.sender) === value).length : at;
          const narrowed: Cursor = { ...cursor, at: groupAt, seen: g.results.length, ...(key === "room_id" ? { room: value } : { sender: value }) };
          g.next_batch = encodeCursor(narrowed);
        }
      }
      out[key] = groups as unknown as JsonObject;
    }
    return out;
  }
}
