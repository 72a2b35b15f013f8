/**
 * Reported events for server admins, in the shape of Synapse's admin API:
 * GET /_synapse/admin/v1/event_reports (from, limit, dir, room_id, user_id)
 * and GET /_synapse/admin/v1/event_reports/{id}.
 */
import type Router from "@koa/router";
import type { Context } from "koa";
import type { ServerContext } from "../../src/context.js";
import { requireUser } from "../../src/http/auth.js";
import { forbidden, invalidParam, notFound } from "../../src/http/errors.js";
import { stateKey, type JsonObject } from "../../src/room/types.js";
import { ReportStore, type ReportRow } from "../../src/storage/report-store.js";

const PATH = "/_synapse/admin/v1/event_reports";
const MAX_LIMIT = 1000;

function single(ctx: Context, key: string): string | undefined {
  const v = ctx.query[key];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw invalidParam(`${key} must be given once`);
  return v;
}

function natural(ctx: Context, key: string, fallback: number): number {
  const v = single(ctx, key);
  if (v === undefined) return fallback;
  if (!/^\d+$/.test(v)) throw invalidParam(`${key} must be a non-negative integer`);
  return Number(v);
}

export function registerEventReportAdmin(router: Router, hs: ServerContext): void {
  const reports = new ReportStore(hs.db);
  const requireAdmin = async (ctx: Context) => {
    const me = await requireUser(ctx, hs.accounts);
    if (!(await hs.accounts.getUser(me.userId))?.admin) throw forbidden("You are not a server admin");
  };

  /** A report as Synapse lists it: with the room's name and alias as they are now. */
  const describe = async (r: ReportRow): Promise<JsonObject> => {
    const out: JsonObject = {
      id: r.id, received_ts: r.receivedTs, room_id: r.roomId, event_id: r.eventId, user_id: r.reporter,
      reason: r.reason, score: r.score, sender: r.targetUserId, name: null, canonical_alias: null,
    };
    if (r.roomId !== null) {
      const state = await hs.states.currentState(r.roomId);
      const name = state.get(stateKey("m.room.name", ""));
      const alias = state.get(stateKey("m.room.canonical_alias", ""));
      const loaded = await hs.events.getEvents([name, alias].filter((id): id is string => id !== undefined));
      const n = name && loaded.get(name)?.event.content.name;
      const a = alias && loaded.get(alias)?.event.content.alias;
      if (typeof n === "string") out.name = n;
      if (typeof a === "string") out.canonical_alias = a;
    }
    return out;
  };

  router.get(PATH, async (ctx) => {
    await requireAdmin(ctx);
    const from = natural(ctx, "from", 0);
    const limit = Math.min(natural(ctx, "limit", 100), MAX_LIMIT);
    const dir = single(ctx, "dir") ?? "b";
    if (dir !== "b" && dir !== "f") throw invalidParam("dir must be b or f");
    const { reports: rows, total } = await reports.list({
      kind: "event", offset: from, limit, dir, roomId: single(ctx, "room_id"), reporter: single(ctx, "user_id"),
    });
    const out: JsonObject = { event_reports: await Promise.all(rows.map(describe)), total };
    if (from + rows.length < total) out.next_token = from + rows.length;
    ctx.body = out;
  });

  router.get(`${PATH}/:id`, async (ctx) => {
    await requireAdmin(ctx);
    if (!/^\d+$/.test(ctx.params.id)) throw invalidParam("Report ids are integers");
    const row = await reports.get(Number(ctx.params.id));
    if (!row || row.kind !== "event") throw notFound("No such report");
    const out = await describe(row);
    const stored = row.eventId === null ? undefined : await hs.events.getEvent(row.eventId);
    // The event as servers exchange it, so an admin sees exactly what was reported.
    if (stored) out.event_json = stored.event.pdu as unknown as JsonObject;
    ctx.body = out;
  });
}
