/**
 * Builds /sync answers: initial (no `since`) and incremental (what changed
 * between `since` and the current positions), for one user and filter.
 *
 * The event stream drives most of it: the user's rooms and their newest
 * events are read by stream position, and room state comes from the state
 * snapshots stored at each event. Typing and presence come from memory;
 * receipts and account data from their own streams.
 */
import type { Knex } from "knex";
import type { ServerContext } from "../context.js";
import { toClientEvent } from "../engine/client-event.js";
import type { Requester } from "../http/auth.js";
import { serverNameOf } from "../room/identifiers.js";
import { splitStateKey, stateKey, type JsonObject, type RoomEvent, type StateMap } from "../room/types.js";
import { ignoredUsers } from "../rooms/ignored.js";
import { RoomClientStore } from "../rooms/room-data.js";
import { strip, strippedStateOf } from "../rooms/stripped-state.js";
import { visibleEvents } from "../rooms/visibility.js";
import { deviceListChanges } from "../e2ee/device-lists.js";
import { addUnreadCounts, pushRulesAccountData } from "../push/sync-counts.js";
import { receiptContent, type Receipt } from "../storage/receipt-store.js";
import { RelationAggregator } from "../relations/aggregations.js";
import { RelationStore } from "../storage/relation-store.js";
import { diffState, type MembershipRow } from "../storage/state-store.js";
import {
  DEFAULT_TIMELINE_LIMIT, allowsEvent, allowsRoom, allowsRoomEvent, pickFields, type SyncFilter,
} from "./filter.js";
import { formatRoomPosition, formatSyncToken, type SyncPosition } from "./tokens.js";
import { JsonText } from "../util/json-text.js";
import { Lru, sharedRead } from "../util/lru.js";
import { pairKey } from "../util/pair-key.js";

export interface SyncResult {
  /** The answer; its presence member is JSON text (write it with stringifyObject). */
  readonly body: Record<string, unknown>;
  /** Nothing for the client: a long-poll keeps waiting. */
  readonly empty: boolean;
  readonly position: SyncPosition;
}

/** Events read per room for a timeline of `limit`: extra, since the filter or history visibility may hide some. */
function fetchSize(limit: number): number {
  return Math.max(limit * 2, limit + 1);
}

/** A room's newest events in a sync's window, newest first, and whether older ones in the window were not read. */
interface RecentEvents {
  readonly ids: readonly string[];
  readonly moreBefore: boolean;
}
const HEROES = 5;
/** Reads of immutable facts held for the syncs that want them at once (and soon after). */
const SHARED_READS = 5_000;

/**
 * The ids of the state events an answer may show. With lazy-loaded
 * members, only those of the user and the timeline's senders: in a room of
 * thousands, loading every member event only to drop it made an initial
 * sync cost as much as the room was big. roomEntry filters what it is
 * given as before; this only spares it the loading.
 */
function stateIdsToLoad(state: StateMap, filter: SyncFilter, userId: string, timeline: readonly RoomEvent[]): string[] {
  if (!filter.state.lazyLoadMembers) return [...state.values()];
  const wanted = new Set([userId, ...timeline.map((e) => e.sender)]);
  const ids: string[] = [];
  for (const [key, id] of state) {
    const [type, member] = splitStateKey(key);
    if (type !== "m.room.member" || wanted.has(member)) ids.push(id);
  }
  return ids;
}

/** To-device messages per sync; the rest follow at once in the next (the answer is not empty). */
const TO_DEVICE_LIMIT = 100;

export class SyncBuilder {
  private readonly store: RoomClientStore;
  private readonly aggregator: RelationAggregator;
  /** The snapshot in force at a room and stream position: a message's recipients all ask for the same one. */
  private readonly snapshotAt = new Lru<string, Promise<number | undefined>>(SHARED_READS);
  /** Windows of a room's timeline (see latestEvents). */
  private readonly windows = new Lru<string, Promise<readonly string[]>>(SHARED_READS);

  constructor(private readonly hs: ServerContext) {
    this.store = new RoomClientStore(hs.db);
    this.aggregator = new RelationAggregator(hs, new RelationStore(hs.db));
  }

  /** The positions a sync built now covers. */
  currentPosition(): SyncPosition {
    const hs = this.hs;
    return {
      events: hs.eventStream.position,
      accountData: hs.accountData.stream.position,
      receipts: hs.receipts.stream.position,
      typing: hs.typing.position,
      presence: hs.presence.position,
      toDevice: hs.toDevice.stream.position,
      deviceLists: hs.deviceLists.stream.position,
    };
  }

  async build(me: Requester, since: SyncPosition | null, filter: SyncFilter, fullState: boolean): Promise<SyncResult> {
    const hs = this.hs;
    let to = this.currentPosition();
    const from = since;
    const ignored = await ignoredUsers(hs, me.userId);
    const memberships = await hs.states.memberships(me.userId);
    const changedSince = (m: MembershipRow) => from === null || (m.stream_ordering ?? 0) > from.events;
    const inWindow = (m: MembershipRow) => (m.stream_ordering ?? 0) <= to.events;

    const join: JsonObject = {};
    const invite: JsonObject = {};
    const leave: JsonObject = {};
    const knock: JsonObject = {};
    const joinedRooms = memberships.filter((m) => m.membership === "join" && inWindow(m) && allowsRoom(filter, m.room_id));

    // Joined rooms: newly joined ones get the full treatment, the others what changed.
    // A membership change that is not a join (a new displayname) is only an event in the timeline.
    const limit = filter.timeline.limit ?? DEFAULT_TIMELINE_LIMIT;
    const newEvents = from === null ? new Map<string, RecentEvents>() : await this.eventsSince(joinedRooms.map((m) => m.room_id), from.events, to.events, fetchSize(limit));
    for (const m of joinedRooms) {
      const fresh = from === null || (changedSince(m) && !(await this.wasJoinedAt(m.room_id, me.userId, from.events)));
      const entry = fresh
        ? await this.fullRoom(me, m.room_id, to.events, filter, ignored)
        : await this.roomDelta(me, m.room_id, from!.events, to.events, newEvents.get(m.room_id), filter, ignored, fullState);
      if (entry) join[m.room_id] = entry;
    }

    let forgotten: ReadonlySet<string> | undefined;
    for (const m of memberships) {
      if (!inWindow(m) || !changedSince(m) || !allowsRoom(filter, m.room_id)) continue;
      if (m.membership === "invite" || m.membership === "knock") {
        const stripped = await this.strippedState(m.room_id, m.event_id, me.userId);
        if (m.membership === "invite") {
          const inviteEvent = await hs.events.getEvent(m.event_id);
          if (inviteEvent && ignored.has(inviteEvent.event.sender)) continue;
          invite[m.room_id] = { invite_state: { events: stripped } };
        } else {
          knock[m.room_id] = { knock_state: { events: stripped } };
        }
      } else if ((m.membership === "leave" || m.membership === "ban") && !(forgotten ??= await this.store.forgottenRooms(me.userId)).has(m.room_id)) {
        // On an initial sync, rooms left are shown only when the filter asks for them.
        if (from === null && !filter.includeLeave) continue;
        const entry = await this.leftRoom(me, m, from?.events ?? null, filter, ignored);
        if (entry) leave[m.room_id] = entry;
      }
    }

    await this.addEphemeral(me, join, joinedRooms.map((m) => m.room_id), from, to, filter);
    const globalAccountData = await this.addAccountData(me, join, new Set(joinedRooms.map((m) => m.room_id)), from, filter);
    // Push notification counts for every joined room in the answer (and rooms whose counts the user's receipt changed).
    await addUnreadCounts(hs, {
      userId: me.userId, join, joinedRoomIds: joinedRooms.map((m) => m.room_id), threaded: filter.timeline.unreadThreadNotifications,
      upTo: to.events, receiptsFrom: from?.receipts, receiptsTo: to.receipts,
    });
    if (from === null && allowsEvent(filter.accountData, "m.push_rules")) await pushRulesAccountData(hs, me.userId, globalAccountData);
    const presence = await this.presence(me, joinedRooms.map((m) => m.room_id), from, filter);
    const toDevice = await hs.toDevice.deliver(me.userId, me.deviceId, from?.toDevice ?? 0, TO_DEVICE_LIMIT);
    to = { ...to, toDevice: toDevice.position };
    const deviceLists = from === null
      ? { changed: [], left: [] }
      : await deviceListChanges(hs, me.userId, { fromEvents: from.events, toEvents: to.events, fromDevices: from.deviceLists, toDevices: to.deviceLists });

    const keyCounts = await hs.e2eKeys.keyCounts(me.userId, me.deviceId);
    const body: Record<string, unknown> = {
      next_batch: formatSyncToken(to),
      rooms: { join, invite, leave, knock },
      account_data: { events: globalAccountData },
      presence: new JsonText(`{"events":[${presence.join(",")}]}`),
      to_device: { events: toDevice.events },
      device_lists: { changed: deviceLists.changed, left: deviceLists.left },
      device_one_time_keys_count: keyCounts.oneTime,
      device_unused_fallback_key_types: keyCounts.unusedFallback,
    };
    const empty =
      Object.keys(join).length + Object.keys(invite).length + Object.keys(leave).length + Object.keys(knock).length === 0 &&
      globalAccountData.length === 0 &&
      presence.length === 0 &&
      toDevice.events.length === 0 &&
      deviceLists.changed.length + deviceLists.left.length === 0;
    return { body, empty, position: to };
  }

  /**
   * For each room with accepted events in (after, upTo]: the newest
   * `perRoom` of them (ids, newest first) and whether there were more.
   * Only rooms that moved since `after` (known from memory) are read, each
   * bounded by its own limit so a busy room never crowds another out.
   */
  private async eventsSince(roomIds: string[], after: number, upTo: number, perRoom: number): Promise<Map<string, RecentEvents>> {
    const out = new Map<string, RecentEvents>();
    if (upTo <= after) return out;
    for (const roomId of roomIds) {
      if (!this.hs.roomActivity.eventsAfter(roomId, after)) continue;
      const ids = await this.latestEvents(roomId, upTo, perRoom + 1, after);
      if (ids.length === 0) continue;
      out.set(roomId, { ids: ids.slice(0, perRoom), moreBefore: ids.length > perRoom });
    }
    return out;
  }

  /** Whether the user's membership in the room was join at stream position `at`. */
  private async wasJoinedAt(roomId: string, userId: string, at: number): Promise<boolean> {
    const id = (await this.stateAt(roomId, at)).get(stateKey("m.room.member", userId));
    if (id === undefined) return false;
    return (await this.hs.events.getEvent(id))?.event.content.membership === "join";
  }

  /**
   * The newest events of a room at or before `upTo`, newest first, at most
   * `n`. The answer for a readable window never changes, and a message's
   * recipients all ask for the same window at once: they share one read.
   */
  private async latestEvents(roomId: string, upTo: number, n: number, after = 0): Promise<readonly string[]> {
    return sharedRead(this.windows, `${roomId}\u0000${upTo}\u0000${n}\u0000${after}`, async () => {
      const rows: { event_id: string }[] = await this.hs.db.knex("events")
        .where({ room_id: roomId })
        .where("stream_ordering", "<=", upTo)
        .where("stream_ordering", ">", after)
        .whereNull("rejected_reason")
        .orderBy("stream_ordering", "desc")
        .limit(n)
        .select("event_id");
      return rows.map((r) => r.event_id);
    });
  }

  /**
   * The room state after the last event at or before stream position `at`.
   * Before the first event we hold of the room: empty for a room that began
   * here; for a room joined over federation, the state the join was made
   * on (the first event's state, without that event).
   */
  private async stateAt(roomId: string, at: number, trx?: Knex): Promise<StateMap> {
    const q = trx ?? this.hs.db.knex;
    // Which snapshot holds at a readable position never changes (backfill only adds history below everything).
    const read = async () => {
      const row = await q("events")
        .where({ room_id: roomId })
        .where("stream_ordering", "<=", at)
        .whereNotNull("state_snapshot")
        .orderBy("stream_ordering", "desc")
        .first("state_snapshot");
      return row ? Number(row.state_snapshot) : undefined;
    };
    const snapshot = trx ? await read() : await sharedRead(this.snapshotAt, pairKey(roomId, String(at)), read);
    if (snapshot !== undefined) return this.hs.states.getSnapshot(snapshot);
    const first = await q("events")
      .where({ room_id: roomId })
      .whereNotNull("stream_ordering")
      .whereNotNull("state_snapshot")
      .orderBy("stream_ordering", "asc")
      .first("state_snapshot", "type", "state_key");
    if (!first || first.type === "m.room.create") return new Map();
    const state = new Map(await this.hs.states.getSnapshot(Number(first.state_snapshot)));
    if (first.state_key !== null) state.delete(stateKey(first.type, first.state_key));
    return state;
  }

  /**
   * A timeline from newest-first ids: what the user may see, filtered, the
   * newest `limit` in order, and whether older ones were left out.
   */
  private async timeline(me: Requester, roomId: string, idsNewestFirst: readonly string[], filter: SyncFilter, ignored: ReadonlySet<string>, moreBefore: boolean) {
    const limit = filter.timeline.limit ?? DEFAULT_TIMELINE_LIMIT;
    const loaded = await this.hs.events.getEvents(idsNewestFirst);
    let events = idsNewestFirst.map((id) => loaded.get(id)?.event).filter((e): e is RoomEvent => e !== undefined).reverse();
    events = events.filter((e) => allowsRoomEvent(filter.timeline, e) && !ignored.has(e.sender));
    events = await visibleEvents(this.hs, me.userId, roomId, events);
    const limited = moreBefore || events.length > limit;
    const shown = limit === 0 ? [] : events.slice(-limit);
    const first = shown[0] ? loaded.get(shown[0].eventId) : undefined;
    return { events: shown, limited, firstOrdering: first?.streamOrdering ?? null };
  }

  private async fullRoom(me: Requester, roomId: string, upTo: number, filter: SyncFilter, ignored: ReadonlySet<string>): Promise<JsonObject> {
    const n = fetchSize(filter.timeline.limit ?? DEFAULT_TIMELINE_LIMIT);
    const ids = await this.latestEvents(roomId, upTo, n);
    const tl = await this.timeline(me, roomId, ids, filter, ignored, ids.length >= n);
    const startAt = tl.firstOrdering === null ? upTo : tl.firstOrdering - 1;
    const state = await this.stateAt(roomId, startAt);
    return this.roomEntry(me, roomId, tl, stateIdsToLoad(state, filter, me.userId, tl.events), startAt, filter);
  }

  private async roomDelta(
    me: Requester, roomId: string, after: number, upTo: number, recent: RecentEvents | undefined, filter: SyncFilter, ignored: ReadonlySet<string>,
    fullState: boolean,
  ): Promise<JsonObject | undefined> {
    // Nothing new in the room: no entry, and no state read (unless full_state asks for it).
    if (!recent && !fullState) return undefined;
    const tl = await this.timeline(me, roomId, recent?.ids ?? [], filter, ignored, recent?.moreBefore ?? false);
    const startAt = tl.firstOrdering === null ? upTo : tl.firstOrdering - 1;
    let stateIds: string[] = [];
    if (fullState) {
      stateIds = stateIdsToLoad(await this.stateAt(roomId, startAt), filter, me.userId, tl.events);
    } else if (tl.limited) {
      // The gap: state changes between what the client had and the timeline's start.
      const delta = diffState(await this.stateAt(roomId, after), await this.stateAt(roomId, startAt));
      stateIds = [...delta.set.values()];
    }
    return this.roomEntry(me, roomId, tl, stateIds, startAt, filter);
  }

  private async leftRoom(me: Requester, m: MembershipRow, after: number | null, filter: SyncFilter, ignored: ReadonlySet<string>): Promise<JsonObject> {
    const at = m.stream_ordering ?? 0;
    const n = fetchSize(filter.timeline.limit ?? DEFAULT_TIMELINE_LIMIT);
    const ids = await this.latestEvents(m.room_id, at, n, after ?? 0);
    // An invite refused or rescinded in a room we hold no history of: the leave itself (an outlier) is the timeline,
    // shown whatever the room's history visibility (the user's own leave, as on Synapse).
    const own = ids.length === 0 && m.event_id ? (await this.hs.events.getEvent(m.event_id))?.event : undefined;
    const tl = own ? { events: [own], limited: false, firstOrdering: null } : await this.timeline(me, m.room_id, ids, filter, ignored, ids.length >= n);
    const startAt = tl.firstOrdering === null ? at : tl.firstOrdering - 1;
    const state = after === null ? await this.stateAt(m.room_id, startAt) : diffState(await this.stateAt(m.room_id, after), await this.stateAt(m.room_id, startAt)).set;
    const entry = await this.roomEntry(me, m.room_id, tl, [...state.values()], startAt, filter);
    delete entry.ephemeral;
    delete entry.unread_notifications;
    delete entry.summary;
    return entry;
  }

  private async roomEntry(
    me: Requester,
    roomId: string,
    tl: { events: RoomEvent[]; limited: boolean },
    stateIds: string[],
    startAt: number,
    filter: SyncFilter,
  ): Promise<JsonObject> {
    let state = [...(await this.hs.events.getEvents(stateIds)).values()].map((s) => s.event);
    state = state.filter((e) => allowsRoomEvent(filter.state, e));
    if (filter.state.lazyLoadMembers) {
      // Only the members who speak in the timeline, and the user themself.
      const wanted = new Set([me.userId, ...tl.events.map((e) => e.sender)]);
      const inTimeline = new Set(tl.events.filter((e) => e.type === "m.room.member").map((e) => e.stateKey));
      state = state.filter((e) => e.type !== "m.room.member" || (wanted.has(e.stateKey ?? "") && !inTimeline.has(e.stateKey)));
      const have = new Set(state.filter((e) => e.type === "m.room.member").map((e) => e.stateKey));
      const missing = [...wanted].filter((u) => !have.has(u) && !inTimeline.has(u));
      if (missing.length) {
        const at = await this.stateAt(roomId, startAt);
        const ids = missing.map((u) => at.get(stateKey("m.room.member", u))).filter((id): id is string => id !== undefined);
        state.push(...[...(await this.hs.events.getEvents(ids)).values()].map((s) => s.event));
      }
    }
    return {
      timeline: {
        events: await this.render(me, [...tl.events], filter, true),
        limited: tl.limited,
        prev_batch: formatRoomPosition(startAt),
      },
      state: { events: await this.render(me, state, filter) },
      ephemeral: { events: [] },
      account_data: { events: [] },
      summary: await this.summary(roomId, me.userId),
      unread_notifications: { notification_count: 0, highlight_count: 0 },
    };
  }

  /** Client events as /sync shows them: no room_id, redactions applied, this device's transaction ids. */
  private async render(me: Requester, events: RoomEvent[], filter: SyncFilter, timeline = false): Promise<JsonObject[]> {
    if (events.length === 0) return [];
    const ids = events.map((e) => e.eventId);
    const redactions = await this.hs.events.redactionsOf(ids);
    const redactionEvents = await this.hs.events.getEvents([...redactions.values()].flat());
    // Transaction ids belong to the timeline: the same event as state carries none.
    const txnIds = timeline ? await this.store.txnIdsOf(me.userId, me.deviceId, ids.filter((_, i) => events[i].sender === me.userId)) : new Map<string, string>();
    const now = Date.now();
    const clients = events.map((ev) => {
      let redactedBy: RoomEvent | undefined;
      for (const id of redactions.get(ev.eventId) ?? []) {
        const r = redactionEvents.get(id);
        if (r && r.rejectedReason === null) {
          redactedBy = r.event;
          break;
        }
      }
      return toClientEvent(ev, { now, omitRoomId: true, redactedBy, transactionId: txnIds.get(ev.eventId) });
    });
    // Timeline events carry bundled aggregations: one grouped query per room, nothing more when nothing relates to them.
    if (timeline) await this.aggregator.bundle(me.userId, events, clients, { omitRoomId: true, now });
    return clients.map((client) => pickFields(client, filter.eventFields));
  }

  private async summary(roomId: string, userId: string): Promise<JsonObject> {
    const s = await this.hs.states.memberSummary(roomId);
    const heroes = s.first.filter((u) => u !== userId).slice(0, HEROES);
    return { "m.heroes": heroes, "m.joined_member_count": s.joined, "m.invited_member_count": s.invited };
  }

  /** Stripped state for an invite or knock: a few descriptive events and the membership event itself. */
  private async strippedState(roomId: string, membershipEventId: string, userId: string): Promise<JsonObject[]> {
    if ((await this.hs.states.currentState(roomId)).size === 0) {
      // A room we are not in: the state the inviting server sent, and the invite itself.
      const sent = (await this.hs.remoteInvites.strippedState(roomId, userId)) ?? [];
      const invite = (await this.hs.events.getEvent(membershipEventId))?.event;
      return invite ? [...sent, strip(invite)] : sent;
    }
    return strippedStateOf(this.hs, roomId, [membershipEventId]);
  }

  private async addEphemeral(me: Requester, join: JsonObject, roomIds: string[], from: SyncPosition | null, to: SyncPosition, filter: SyncFilter): Promise<void> {
    const entry = (roomId: string): JsonObject => {
      let e = join[roomId] as JsonObject | undefined;
      if (!e) {
        e = { timeline: { events: [], limited: false }, state: { events: [] }, ephemeral: { events: [] }, account_data: { events: [] } };
        join[roomId] = e;
      }
      return e;
    };
    const push = (roomId: string, ev: JsonObject) => ((entry(roomId).ephemeral as { events: JsonObject[] }).events.push(ev));
    // A position beyond ours comes from before a restart: send everything again.
    const typingFrom = from === null || from.typing > to.typing ? -1 : from.typing;
    if (allowsEvent(filter.ephemeral, "m.typing")) {
      for (const roomId of roomIds) {
        const t = this.hs.typing.typing(roomId);
        if (t.position > typingFrom && (typingFrom >= 0 || t.userIds.length > 0)) push(roomId, { type: "m.typing", content: { user_ids: t.userIds } });
      }
    }
    if (allowsEvent(filter.ephemeral, "m.receipt")) {
      const receipts = await this.hs.receipts.changedSince(roomIds, from?.receipts ?? 0);
      const byRoom = new Map<string, Receipt[]>();
      for (const r of receipts) byRoom.set(r.roomId, [...(byRoom.get(r.roomId) ?? []), r]);
      for (const [roomId, list] of byRoom) {
        // One m.receipt per thread (the spec's batching), so a user's unthreaded and threaded receipts on one event never overwrite each other.
        const byThread = new Map<string, Receipt[]>();
        for (const r of list) byThread.set(r.threadId ?? "", [...(byThread.get(r.threadId ?? "") ?? []), r]);
        for (const group of byThread.values()) {
          const content = receiptContent(group, me.userId);
          if (Object.keys(content).length) push(roomId, { type: "m.receipt", content });
        }
      }
    }
  }

  private async addAccountData(me: Requester, join: JsonObject, joined: Set<string>, from: SyncPosition | null, filter: SyncFilter): Promise<JsonObject[]> {
    const global: JsonObject[] = [];
    for (const change of await this.hs.accountData.changedSince(me.userId, from?.accountData ?? 0)) {
      const ev = { type: change.type, content: change.content };
      if (change.roomId === null) {
        if (allowsEvent(filter.accountData, change.type)) global.push(ev);
      } else if (joined.has(change.roomId) && allowsEvent(filter.roomAccountData, change.type, undefined, change.roomId)) {
        const entry = (join[change.roomId] ??= { timeline: { events: [], limited: false }, state: { events: [] }, ephemeral: { events: [] }, account_data: { events: [] } }) as JsonObject;
        (entry.account_data as { events: JsonObject[] }).events.push(ev);
      }
    }
    return global;
  }

  /**
   * Presence of the user and of users (ours or other servers') sharing a
   * room with them, changed since `from`, as the texts of m.presence events.
   * After a reconnection storm each answer carries thousands of these: the
   * room member sets are fetched once, and each event is encoded once for
   * everyone who gets it.
   */
  private async presence(me: Requester, roomIds: string[], from: SyncPosition | null, filter: SyncFilter): Promise<string[]> {
    if (!allowsEvent(filter.presence, "m.presence")) return [];
    const after = from === null || from.presence > this.hs.presence.position ? 0 : from.presence;
    if (after >= this.hs.presence.position) return [];
    const mine = new Set(roomIds);
    const roomMates = await Promise.all(roomIds.map((r) => this.hs.notifier.localUsers(r)));
    const senders = filter.presence.senders ? new Set(filter.presence.senders) : undefined;
    const out: string[] = [];
    for (const rec of this.hs.presence.changedSince(after)) {
      const u = rec.userId;
      if (senders && !senders.has(u)) continue;
      const shared = u === me.userId ||
        (serverNameOf(u) === this.hs.config.server_name
          ? roomMates.some((users) => users.has(u))
          : (await this.hs.states.roomsForUser(u, "join")).some((r) => mine.has(r)));
      if (shared) out.push(this.hs.presence.eventText(rec));
    }
    return out;
  }
}
