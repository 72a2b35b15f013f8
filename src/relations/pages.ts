/**
 * Paging through relations for one user: an event's children
 * (/relations) and a room's threads (/threads). Both read the index in
 * batches and keep what the user may see (history visibility as for
 * /messages, ignored users left out), so a page is never short because
 * of hidden events while more remain; the token says where reading
 * stopped, not where the page ended.
 */
import type { ServerContext } from "../context.js";
import { MatrixError, forbidden, notFound } from "../http/errors.js";
import { redactContent } from "../room/redaction.js";
import type { JsonObject, RoomEvent } from "../room/types.js";
import { getRoomVersion } from "../room/versions.js";
import type { RoomAccess } from "../rooms/access.js";
import { ignoredUsers } from "../rooms/ignored.js";
import { visibleEvents } from "../rooms/visibility.js";
import type { RelationStore } from "../storage/relation-store.js";
import type { RelationAggregator } from "./aggregations.js";

/** How deep `recurse=true` walks (the spec: at least 3). */
export const RECURSION_DEPTH = 3;

export interface ChildrenRequest {
  readonly roomId: string;
  readonly eventId: string;
  readonly relType?: string;
  readonly eventType?: string;
  readonly dir: "b" | "f";
  readonly from: number;
  readonly to?: number;
  readonly limit: number;
  readonly recurse: boolean;
}

export interface ChildrenPage {
  readonly chunk: JsonObject[];
  /** Where reading stopped (b: the next page is at or below it; f: above it), unless nothing is left. */
  readonly next?: number;
}

export interface ThreadsRequest {
  readonly roomId: string;
  readonly participated: boolean;
  /** Only threads whose latest reply is below this position. */
  readonly before: number;
  readonly limit: number;
}

export interface ThreadsPage {
  readonly chunk: JsonObject[];
  readonly next?: number;
}

export class RelationPages {
  constructor(
    private readonly hs: ServerContext,
    private readonly store: RelationStore,
    private readonly access: RoomAccess,
    private readonly aggregator: RelationAggregator,
  ) {}

  /**
   * 404 M_NOT_FOUND when the room is unknown, the user may not read it,
   * or the parent event is not one they can see (the spec's one error).
   */
  async children(userId: string, req: ChildrenRequest): Promise<ChildrenPage> {
    try {
      await this.access.requireTimelineAccess(req.roomId, userId);
    } catch (err) {
      if (err instanceof MatrixError && err.status === 403) throw notFound(`Event ${req.eventId} not found`);
      throw err;
    }
    const parent = await this.hs.events.getEvent(req.eventId);
    if (!parent || parent.event.roomId !== req.roomId || parent.rejectedReason !== null || parent.streamOrdering === null
      || (await visibleEvents(this.hs, userId, req.roomId, [parent.event])).length === 0) {
      throw notFound(`Event ${req.eventId} not found`);
    }
    const ignored = await ignoredUsers(this.hs, userId);
    const chunk: RoomEvent[] = [];
    let cursor = req.from;
    let exhausted = false;
    const batch = Math.max(20, Math.min(req.limit * 2, 1000));
    while (chunk.length < req.limit && !exhausted) {
      const rows = await this.store.children({
        roomId: req.roomId, parentId: req.eventId, relType: req.relType, eventType: req.eventType,
        dir: req.dir, from: cursor, to: req.to, limit: batch, depth: req.recurse ? RECURSION_DEPTH : 1,
      });
      const loaded = await this.hs.events.getEvents(rows.map((r) => r.eventId));
      const candidates = rows
        .map((r) => loaded.get(r.eventId))
        .filter((s) => s !== undefined && s.rejectedReason === null && !ignored.has(s.event.sender))
        .map((s) => s!.event);
      const visible = new Set((await visibleEvents(this.hs, userId, req.roomId, candidates)).map((e) => e.eventId));
      let consumed = 0;
      for (const row of rows) {
        consumed++;
        cursor = req.dir === "b" ? row.streamOrdering - 1 : row.streamOrdering;
        if (visible.has(row.eventId)) chunk.push(loaded.get(row.eventId)!.event);
        if (chunk.length >= req.limit) break;
      }
      if (rows.length < batch && consumed === rows.length) exhausted = true;
    }
    const rendered = await this.access.render(chunk);
    await this.aggregator.bundle(userId, chunk, rendered, { ignored });
    return exhausted ? { chunk: rendered } : { chunk: rendered, next: cursor };
  }

  /** 403 M_FORBIDDEN when the user can neither read nor peek into the room (or it is unknown here). */
  async threads(userId: string, req: ThreadsRequest): Promise<ThreadsPage> {
    try {
      await this.access.requireTimelineAccess(req.roomId, userId);
    } catch (err) {
      if (err instanceof MatrixError && err.status === 404) throw forbidden("You are not allowed to view this room");
      throw err;
    }
    const ignored = await ignoredUsers(this.hs, userId);
    const roots: RoomEvent[] = [];
    let cursor = req.before;
    let exhausted = false;
    const batch = Math.max(20, Math.min(req.limit * 2, 200));
    while (roots.length < req.limit && !exhausted) {
      const rows = await this.store.threads(req.roomId, cursor, batch, req.participated ? userId : undefined);
      const loaded = await this.hs.events.getEvents(rows.map((r) => r.threadId));
      const candidates = rows
        .map((r) => loaded.get(r.threadId))
        .filter((s) => s !== undefined && s.rejectedReason === null && s.streamOrdering !== null && s.event.roomId === req.roomId)
        .map((s) => s!.event);
      const visible = new Set((await visibleEvents(this.hs, userId, req.roomId, candidates)).map((e) => e.eventId));
      let consumed = 0;
      for (const row of rows) {
        consumed++;
        cursor = row.latestOrdering;
        if (visible.has(row.threadId)) roots.push(loaded.get(row.threadId)!.event);
        if (roots.length >= req.limit) break;
      }
      if (rows.length < batch && consumed === rows.length) exhausted = true;
    }
    const rendered = await this.access.render(roots);
    roots.forEach((root, i) => {
      // A root from an ignored user is shown redacted, as a client aggregating the thread itself would show it.
      if (!ignored.has(root.sender)) return;
      const rules = getRoomVersion(root.roomVersion);
      if (rules) rendered[i].content = redactContent(root.type, root.content, rules);
    });
    await this.aggregator.bundle(userId, roots, rendered, { ignored });
    return exhausted ? { chunk: rendered } : { chunk: rendered, next: cursor };
  }
}
