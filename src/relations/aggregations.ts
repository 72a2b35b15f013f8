/**
 * Bundled aggregations (Client-Server spec, "Aggregations of child
 * events"): what the server adds under unsigned["m.relations"] of each
 * event it serves, relative to the requesting user:
 *
 * - m.replace: the most recent valid edit, whole (most recent by
 *   origin_server_ts, then the larger event id). Valid: same sender, same
 *   type, neither a state event, the original not itself an edit, and the
 *   edit has m.new_content (unless encrypted: then it is in the ciphertext). Not bundled on a redacted original. The
 *   original's content is left as it is: clients apply edits.
 * - m.thread: latest_event (the newest reply, itself with its own
 *   aggregations), count, current_user_participated.
 * - m.reference: a chunk of {event_id}.
 *
 * Children from users the requester ignores count for nothing. State
 * events get no aggregations (the spec's warning). The work is a fixed
 * number of queries per page of events: one grouped query that says which
 * parents have children at all (usually none, and then nothing else is
 * read), then one for the rows of edits and references and the latest
 * thread replies, then the events themselves through the event cache.
 */
import type { ServerContext } from "../context.js";
import { toClientEvent } from "../engine/client-event.js";
import type { JsonObject, RoomEvent } from "../room/types.js";
import { ignoredUsers } from "../rooms/ignored.js";
import type { RelationRow, RelationStore } from "../storage/relation-store.js";
import { AGGREGATED_REL_TYPES, REL_REFERENCE, REL_REPLACE, REL_THREAD, relationOf } from "./relates-to.js";

export interface BundleOptions {
  /** The requester's ignored users, when the caller has them already. */
  readonly ignored?: ReadonlySet<string>;
  /** /sync leaves room_id out of events inside a room's section; bundled events follow suit. */
  readonly omitRoomId?: boolean;
  readonly now?: number;
}

/** Whether an edit may stand for the original (the spec's "Validity of replacement events"). */
export function isValidEdit(original: RoomEvent, edit: RoomEvent): boolean {
  if (edit.roomId !== original.roomId || edit.sender !== original.sender || edit.type !== original.type) return false;
  if (original.stateKey !== undefined || edit.stateKey !== undefined) return false;
  if (relationOf(original.content)?.relType === REL_REPLACE) return false;
  // An encrypted edit carries m.new_content inside its ciphertext, where only clients can check it.
  if (edit.type === "m.room.encrypted") return true;
  const replaced = edit.content["m.new_content"];
  return typeof replaced === "object" && replaced !== null && !Array.isArray(replaced);
}

/** Newest first: origin_server_ts, then the lexicographically larger event id. */
function newerFirst(a: RelationRow, b: RelationRow): number {
  if (a.originServerTs !== b.originServerTs) return b.originServerTs - a.originServerTs;
  return a.eventId < b.eventId ? 1 : a.eventId > b.eventId ? -1 : 0;
}

export class RelationAggregator {
  constructor(
    private readonly hs: ServerContext,
    private readonly store: RelationStore,
  ) {}

  /**
   * Add unsigned["m.relations"] to each of `rendered` (the client form of
   * `events`, index for index) that has aggregated children.
   */
  async bundle(userId: string, events: readonly RoomEvent[], rendered: readonly JsonObject[], opts: BundleOptions = {}): Promise<void> {
    await this.bundleAt(userId, events, rendered, opts, 0);
  }

  private async bundleAt(userId: string, events: readonly RoomEvent[], rendered: readonly JsonObject[], opts: BundleOptions, depth: number): Promise<void> {
    const parents = new Map<string, { event: RoomEvent; out: JsonObject }>();
    events.forEach((ev, i) => {
      if (ev.stateKey === undefined) parents.set(ev.eventId, { event: ev, out: rendered[i] });
    });
    // Most events have nothing relating to them, and the event store knows which from memory.
    const related = await this.hs.events.withRelations([...parents.keys()]);
    for (const id of parents.keys()) if (!related.has(id)) parents.delete(id);
    if (parents.size === 0) return;
    const ids = [...parents.keys()];
    let ignored = opts.ignored;
    // The common case is a page nothing relates to: one query, without even reading the ignore list.
    let summaries = await this.store.summaries(ids, AGGREGATED_REL_TYPES, userId, ignored ?? new Set());
    if (summaries.length === 0) return;
    if (ignored === undefined) {
      ignored = await ignoredUsers(this.hs, userId);
      if (ignored.size) summaries = await this.store.summaries(ids, AGGREGATED_REL_TYPES, userId, ignored);
    }
    summaries = summaries.filter((s) => parents.get(s.parentId)?.event.roomId === s.roomId);
    if (summaries.length === 0) return;

    const listed = summaries.filter((s) => s.relType !== REL_THREAD).map((s) => s.parentId);
    const latest = summaries.filter((s) => s.relType === REL_THREAD).map((s) => s.latestOrdering);
    const rows = await this.store.rowsFor([...new Set(listed)], [REL_REPLACE, REL_REFERENCE], latest, ignored);
    const byPosition = new Map(rows.map((r) => [r.streamOrdering, r]));

    // The edits worth loading: for each original, its candidates newest first, up to the first valid one.
    const edits = new Map<string, RelationRow[]>();
    for (const r of rows) {
      if (r.relType !== REL_REPLACE) continue;
      const p = parents.get(r.parentId);
      if (!p || r.roomId !== p.event.roomId || r.sender !== p.event.sender || r.type !== p.event.type) continue;
      if (p.out.unsigned && (p.out.unsigned as JsonObject).redacted_because !== undefined) continue;
      edits.set(r.parentId, [...(edits.get(r.parentId) ?? []), r]);
    }
    for (const list of edits.values()) list.sort(newerFirst);
    const toLoad = new Set<string>();
    for (const list of edits.values()) for (const r of list) toLoad.add(r.eventId);
    for (const s of summaries) if (s.relType === REL_THREAD) {
      const r = byPosition.get(s.latestOrdering);
      if (r) toLoad.add(r.eventId);
    }
    const loaded = await this.hs.events.getEvents(toLoad);
    const eventOf = (id: string) => {
      const s = loaded.get(id);
      return s && s.rejectedReason === null ? s.event : undefined;
    };
    const now = opts.now ?? Date.now();
    const show = (ev: RoomEvent) => toClientEvent(ev, { now, omitRoomId: opts.omitRoomId });

    const relations = new Map<string, JsonObject>();
    const relationsOf = (parentId: string): JsonObject => {
      let r = relations.get(parentId);
      if (!r) relations.set(parentId, (r = {}));
      return r;
    };
    for (const [parentId, list] of edits) {
      const original = parents.get(parentId)!.event;
      for (const row of list) {
        const edit = eventOf(row.eventId);
        if (edit && isValidEdit(original, edit)) {
          relationsOf(parentId)[REL_REPLACE] = show(edit);
          break;
        }
      }
    }
    const references = new Map<string, RelationRow[]>();
    for (const r of rows) {
      if (r.relType !== REL_REFERENCE || parents.get(r.parentId)?.event.roomId !== r.roomId) continue;
      references.set(r.parentId, [...(references.get(r.parentId) ?? []), r]);
    }
    for (const [parentId, list] of references) {
      list.sort((a, b) => a.streamOrdering - b.streamOrdering);
      relationsOf(parentId)[REL_REFERENCE] = { chunk: list.map((r) => ({ event_id: r.eventId })) };
    }
    const latestEvents: RoomEvent[] = [];
    const latestRendered: JsonObject[] = [];
    for (const s of summaries) {
      if (s.relType !== REL_THREAD) continue;
      const row = byPosition.get(s.latestOrdering);
      const latestEvent = row && eventOf(row.eventId);
      if (!latestEvent) continue;
      const root = parents.get(s.parentId)!.event;
      const shown = show(latestEvent);
      latestEvents.push(latestEvent);
      latestRendered.push(shown);
      relationsOf(s.parentId)[REL_THREAD] = {
        latest_event: shown,
        count: s.count,
        current_user_participated: s.mine || root.sender === userId,
      };
    }
    // The latest reply's own children (its edits, say); a reply cannot root a thread, so this ends after one level.
    if (latestEvents.length && depth === 0) await this.bundleAt(userId, latestEvents, latestRendered, { ...opts, ignored, now }, depth + 1);

    for (const [parentId, r] of relations) {
      const out = parents.get(parentId)!.out;
      const unsigned = (out.unsigned ??= {}) as JsonObject;
      unsigned["m.relations"] = r;
    }
  }
}
