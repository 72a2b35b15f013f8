/**
 * Reporting content to the server's admins: an event (which the reporter
 * must be joined to the room of and able to see), a room (v1.13) and a
 * user (v1.14). Reports are stored for the admin API
 * (admin/event-reports.ts); nothing is sent anywhere yet.
 *
 * Unknown rooms, events and users answer 404, as the spec describes,
 * rather than hiding their existence behind a 200.
 */
import type Router from "@koa/router";
import type { ServerContext } from "../src/context.js";
import { requireUser } from "../src/http/auth.js";
import { readJsonObject } from "../src/http/body.js";
import { badJson, invalidParam, notFound } from "../src/http/errors.js";
import { optionalString, requireString } from "../src/http/params.js";
import { isValidUserId, serverNameOf } from "../src/room/identifiers.js";
import { visibleEvents } from "../src/rooms/visibility.js";
import { ReportStore } from "../src/storage/report-store.js";

const PREFIX = "/_matrix/client/v3";
const MAX_REASON = 4096;

function reasonOf(body: Record<string, unknown>, required: boolean): string | undefined {
  const reason = required ? requireString(body, "reason") : optionalString(body, "reason");
  if (reason !== undefined && reason.length > MAX_REASON) throw invalidParam(`reason is longer than ${MAX_REASON} characters`);
  return reason;
}

export function registerReports(router: Router, hs: ServerContext): void {
  const reports = new ReportStore(hs.db);

  router.post(`${PREFIX}/rooms/:roomId/report/:eventId`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, hs.config.max_request_body_bytes);
    const reason = reasonOf(body, false);
    // score was removed in v1.18; older clients still send it (-100 most offensive to 0).
    let score: number | undefined;
    if (body.score !== undefined && body.score !== null) {
      if (typeof body.score !== "number" || !Number.isInteger(body.score)) throw badJson("score must be an integer");
      if (body.score < -100 || body.score > 0) throw invalidParam("score must be between -100 and 0");
      score = body.score;
    }
    const { roomId, eventId } = ctx.params;
    const missing = () => notFound("The event was not found or you are not joined to the room");
    if ((await hs.states.membershipOf(roomId, me.userId)) !== "join") throw missing();
    const stored = await hs.events.getEvent(eventId);
    if (!stored || stored.event.roomId !== roomId || stored.rejectedReason !== null || stored.outlier) throw missing();
    if ((await visibleEvents(hs, me.userId, roomId, [stored.event])).length === 0) throw missing();
    await reports.add({ kind: "event", reporter: me.userId, roomId, eventId, targetUserId: stored.event.sender, reason, score });
    ctx.body = {};
  });

  router.post(`${PREFIX}/rooms/:roomId/report`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, hs.config.max_request_body_bytes);
    const reason = reasonOf(body, true);
    const { roomId } = ctx.params;
    if (!(await hs.rooms.get(roomId))) throw notFound("The room was not found");
    await reports.add({ kind: "room", reporter: me.userId, roomId, reason });
    ctx.body = {};
  });

  router.post(`${PREFIX}/users/:userId/report`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, hs.config.max_request_body_bytes);
    const reason = reasonOf(body, true);
    const { userId } = ctx.params;
    if (!isValidUserId(userId)) throw invalidParam("Not a valid user id");
    // A local user must have an account; another server's user must at least have been seen in a room here.
    const known = serverNameOf(userId) === hs.config.server_name
      ? await hs.accounts.userExists(userId)
      : (await hs.db.knex("room_memberships").where({ user_id: userId }).first("room_id")) !== undefined;
    if (!known) throw notFound("The user was not found");
    await reports.add({ kind: "user", reporter: me.userId, targetUserId: userId, reason });
    ctx.body = {};
  });
}
