/**
 * What /sync shows of push notifications: unread_notifications per joined
 * room in the answer (and unread_thread_notifications per thread when the
 * filter asks, the main-timeline counts then leaving threads out), rooms
 * whose counts the user's own receipt changed, and m.push_rules in the
 * account data of an initial sync. Counted up to the sync's own event
 * position, so a count never runs ahead of the timeline it comes with.
 */
import type { ServerContext } from "../context.js";
import type { JsonObject } from "../room/types.js";

export interface SyncCountsInput {
  readonly userId: string;
  /** The answer's joined rooms, by room id (entries are added for rooms whose counts a receipt changed). */
  readonly join: JsonObject;
  readonly joinedRoomIds: readonly string[];
  readonly threaded: boolean;
  readonly upTo: number;
  /** Receipt stream positions of the sync (from is undefined for an initial sync). */
  readonly receiptsFrom?: number;
  readonly receiptsTo: number;
}

function emptyEntry(): JsonObject {
  return { timeline: { events: [], limited: false }, state: { events: [] }, ephemeral: { events: [] }, account_data: { events: [] } };
}

export async function addUnreadCounts(hs: ServerContext, input: SyncCountsInput): Promise<void> {
  const { join } = input;
  if (input.receiptsFrom !== undefined && input.receiptsFrom < input.receiptsTo) {
    // The user's own receipt moved: that room's counts changed even if nothing else did.
    for (const r of await hs.receipts.changedSince([...input.joinedRoomIds], input.receiptsFrom)) {
      if (r.userId === input.userId && (r.receiptType === "m.read" || r.receiptType === "m.read.private")) join[r.roomId] ??= emptyEntry();
    }
  }
  const roomIds = Object.keys(join);
  if (roomIds.length === 0) return;
  const counts = await hs.push.actions.unread(input.userId, roomIds, input.upTo);
  for (const roomId of roomIds) {
    const entry = join[roomId] as JsonObject;
    const c = counts.get(roomId);
    const zero = { notification_count: 0, highlight_count: 0 };
    if (!input.threaded) {
      entry.unread_notifications = { ...(c?.total ?? zero) };
      continue;
    }
    entry.unread_notifications = { ...(c?.main ?? zero) };
    const threads: JsonObject = {};
    for (const [threadId, t] of c?.threads ?? []) threads[threadId] = { ...t };
    entry.unread_thread_notifications = threads;
  }
}

/**
 * An initial sync carries the user's ruleset as m.push_rules, read from
 * the rules themselves: present even if they never changed it, and right
 * even if a crash came between a change's commit and its account data.
 */
export async function pushRulesAccountData(hs: ServerContext, userId: string, global: JsonObject[]): Promise<void> {
  const at = global.findIndex((e) => e.type === "m.push_rules");
  if (at >= 0) global.splice(at, 1);
  global.push({ type: "m.push_rules", content: { global: (await hs.push.rules.ruleset(userId)) as unknown as JsonObject } });
}
