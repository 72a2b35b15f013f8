/**
 * GET /notifications: the events the user's push rules notified them of,
 * newest first, with whether each is read (behind their read receipt for
 * its room and thread). `from` is the stream position to continue below.
 */
import type Router from "@koa/router";
import type { ServerContext } from "../src/context.js";
import { toClientEvent } from "../src/engine/client-event.js";
import { requireUser } from "../src/http/auth.js";
import { invalidParam } from "../src/http/errors.js";
import type { JsonObject } from "../src/room/types.js";
import { isRead } from "../src/storage/push-actions-store.js";

const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 100;

export function registerNotifications(router: Router, hs: ServerContext): void {

  router.get("/_matrix/client/v3/notifications", async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const q = ctx.query;
    let before: number | undefined;
    if (q.from !== undefined) {
      if (typeof q.from !== "string" || !/^-?\d{1,18}$/.test(q.from)) throw invalidParam("from is not a token this server gave");
      before = Number(q.from);
    }
    let limit = DEFAULT_LIMIT;
    if (q.limit !== undefined) {
      if (typeof q.limit !== "string" || !/^\d{1,9}$/.test(q.limit)) throw invalidParam("limit must be a non-negative integer");
      limit = Math.min(Number(q.limit), MAX_LIMIT);
    }
    const onlyHighlight = q.only === "highlight";
    // Every room the user has a membership in: where their notifications can be.
    const rooms: { room_id: string }[] = await hs.db.knex("room_memberships").where({ user_id: me.userId }).select("room_id");
    const rows = await hs.push.actions.list(me.userId, rooms.map((r) => r.room_id), { before, limit: limit + 1, onlyHighlight });
    const page = rows.slice(0, limit);
    const events = await hs.events.getEvents(page.map((r) => r.eventId));
    const redactions = await hs.events.redactionsOf(page.map((r) => r.eventId));
    const redactionEvents = await hs.events.getEvents([...redactions.values()].flat());
    const thresholds = await hs.push.actions.thresholds(me.userId, [...new Set(page.map((r) => r.roomId))]);
    const now = Date.now();
    const notifications: JsonObject[] = [];
    for (const r of page) {
      const stored = events.get(r.eventId);
      if (!stored) continue;
      const redactedBy = (redactions.get(r.eventId) ?? []).map((id) => redactionEvents.get(id)).find((e) => e && e.rejectedReason === null)?.event;
      notifications.push({
        actions: r.actions,
        event: toClientEvent(stored.event, { now, redactedBy, omitRoomId: true }),
        read: isRead(thresholds.get(r.roomId), r.threadId, r.streamOrdering),
        room_id: r.roomId,
        ts: r.ts,
      });
    }
    const body: JsonObject = { notifications };
    if (rows.length > limit && page.length > 0) body.next_token = String(page[page.length - 1].streamOrdering);
    ctx.body = body;
  });
}
