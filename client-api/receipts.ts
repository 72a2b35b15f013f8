/**
 * Typing notices, read receipts and read markers: the per-user state of a
 * room that is not part of its DAG.
 */
import type Router from "@koa/router";
import type { ServerContext } from "../src/context.js";
import { requireUser } from "../src/http/auth.js";
import { readJsonObject } from "../src/http/body.js";
import { MatrixError, forbidden, notFound } from "../src/http/errors.js";
import { optionalBoolean, optionalString } from "../src/http/params.js";
import { receiptThreadsOf } from "../src/relations/rules.js";
import { RelationStore } from "../src/storage/relation-store.js";

const PREFIX = "/_matrix/client/v3/rooms/:roomId";
const RECEIPT_TYPES = new Set(["m.read", "m.read.private", "m.fully_read"]);

export function registerReceipts(router: Router, hs: ServerContext): void {
  const limit = hs.config.max_request_body_bytes;
  const relations = new RelationStore(hs.db);

  const requireJoined = async (roomId: string, userId: string) => {
    if ((await hs.states.membershipOf(roomId, userId)) !== "join") throw forbidden("You are not joined to this room");
  };

  /** Record one marker or receipt; m.fully_read is the read marker, kept as room account data. */
  const mark = async (roomId: string, userId: string, type: string, eventId: string, threadId?: string) => {
    const stored = await hs.events.getEvent(eventId);
    if (!stored || stored.event.roomId !== roomId || stored.rejectedReason !== null) throw notFound("Unknown event");
    // A threaded receipt must name the thread its event is in ("main" for the main timeline, thread roots included).
    if (threadId !== undefined && !(await receiptThreadsOf(relations, roomId, eventId)).has(threadId)) {
      throw new MatrixError(400, "M_INVALID_PARAM", `Event ${eventId} is not in thread ${threadId}`);
    }
    if (type === "m.fully_read") {
      await hs.accountData.put(userId, roomId, "m.fully_read", { event_id: eventId });
      return;
    }
    const orderOf = async (id: string) => (await hs.events.getEvent(id))?.streamOrdering ?? null;
    await hs.receipts.put({ roomId, receiptType: type, userId, threadId, eventId, ts: Date.now() }, orderOf);
  };

  router.put(`${PREFIX}/typing/:userId`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, limit);
    if (ctx.params.userId !== me.userId) throw forbidden("You may only set your own typing state");
    const typing = optionalBoolean(body, "typing");
    if (typing === undefined) throw new MatrixError(400, "M_MISSING_PARAM", "Missing typing");
    const timeout = body.timeout;
    if (timeout !== undefined && (typeof timeout !== "number" || !Number.isInteger(timeout) || timeout < 0)) {
      throw new MatrixError(400, "M_BAD_JSON", "timeout must be a non-negative integer");
    }
    await requireJoined(ctx.params.roomId, me.userId);
    hs.typing.setTyping(ctx.params.roomId, me.userId, typing, timeout ?? 30_000);
    ctx.body = {};
  });

  router.post(`${PREFIX}/receipt/:receiptType/:eventId`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, limit);
    const { roomId, receiptType, eventId } = ctx.params;
    if (!RECEIPT_TYPES.has(receiptType)) throw new MatrixError(400, "M_INVALID_PARAM", `Unknown receipt type ${receiptType}`);
    const threadRaw = body.thread_id ?? undefined;
    if (threadRaw !== undefined && typeof threadRaw !== "string") throw new MatrixError(400, "M_INVALID_PARAM", "thread_id must be a string");
    const threadId = threadRaw as string | undefined;
    if (threadId !== undefined && (receiptType === "m.fully_read" || threadId === "")) {
      throw new MatrixError(400, "M_INVALID_PARAM", "thread_id is not valid here");
    }
    await requireJoined(roomId, me.userId);
    await mark(roomId, me.userId, receiptType, eventId, threadId);
    ctx.body = {};
  });

  router.post(`${PREFIX}/read_markers`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, limit);
    const markers: Array<[string, string]> = [];
    for (const type of ["m.fully_read", "m.read", "m.read.private"]) {
      const id = optionalString(body, type);
      if (id !== undefined) markers.push([type, id]);
    }
    await requireJoined(ctx.params.roomId, me.userId);
    for (const [type, id] of markers) await mark(ctx.params.roomId, me.userId, type, id);
    ctx.body = {};
  });
}
