/**
 * Reports of content (events, rooms, users) that users send to this
 * server's admins (migrations/0015_search.ts, `content_reports`). Kept
 * until an admin deletes them; read by the admin API.
 */
import type { Database } from "./database.js";

export type ReportKind = "event" | "room" | "user";

export interface NewReport {
  readonly kind: ReportKind;
  readonly reporter: string;
  readonly roomId?: string;
  readonly eventId?: string;
  readonly targetUserId?: string;
  readonly reason?: string;
  readonly score?: number;
}

export interface ReportRow {
  readonly id: number;
  readonly receivedTs: number;
  readonly kind: ReportKind;
  readonly reporter: string;
  readonly roomId: string | null;
  readonly eventId: string | null;
  readonly targetUserId: string | null;
  readonly reason: string | null;
  readonly score: number | null;
}

export interface ReportListing {
  readonly kind: ReportKind;
  readonly offset: number;
  readonly limit: number;
  /** Newest first ("b") or oldest first ("f"). */
  readonly dir: "b" | "f";
  readonly roomId?: string;
  readonly reporter?: string;
}

export class ReportStore {
  constructor(private readonly db: Database) {}

  async add(r: NewReport): Promise<void> {
    await this.db.knex("content_reports").insert({
      received_ts: Date.now(),
      kind: r.kind,
      reporter: r.reporter,
      room_id: r.roomId ?? null,
      event_id: r.eventId ?? null,
      target_user_id: r.targetUserId ?? null,
      reason: r.reason ?? null,
      score: r.score ?? null,
    });
  }

  async get(id: number): Promise<ReportRow | undefined> {
    const r: Record<string, unknown> | undefined = await this.db.knex("content_reports").where({ id }).first("*");
    return r ? toRow(r) : undefined;
  }

  async list(q: ReportListing): Promise<{ reports: ReportRow[]; total: number }> {
    const where = this.db.knex("content_reports").where({ kind: q.kind });
    if (q.roomId !== undefined) where.where({ room_id: q.roomId });
    if (q.reporter !== undefined) where.where({ reporter: q.reporter });
    const totalRow = await where.clone().count({ n: "*" }).first();
    const rows: Record<string, unknown>[] = await where
      .clone()
      .orderBy("id", q.dir === "b" ? "desc" : "asc")
      .offset(q.offset)
      .limit(q.limit)
      .select("*");
    return {
      total: Number(totalRow?.n ?? 0),
      reports: rows.map(toRow),
    };
  }
}

function toRow(r: Record<string, unknown>): ReportRow {
  return {
    id: Number(r.id),
    receivedTs: Number(r.received_ts),
    kind: r.kind as ReportKind,
    reporter: r.reporter as string,
    roomId: (r.room_id as string | null) ?? null,
    eventId: (r.event_id as string | null) ?? null,
    targetUserId: (r.target_user_id as string | null) ?? null,
    reason: (r.reason as string | null) ?? null,
    score: r.score === null || r.score === undefined ? null : Number(r.score),
  };
}
