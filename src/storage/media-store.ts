/**
 * The media tables (migration 0012): what we know of each mxc URI we hold
 * and of the thumbnails generated for it. The bytes live on disk
 * (src/media/files.ts); a row is only written once its file is durable,
 * so a row with content always has its file.
 */
import type { Database } from "./database.js";
import { isUniqueViolation } from "./database.js";

export interface MediaRecord {
  readonly origin: string;
  readonly mediaId: string;
  /** Null while an mxc URI made with /create waits for its content. */
  readonly contentType: string | null;
  readonly uploadName: string | null;
  readonly size: number | null;
  readonly sha256: string | null;
  readonly createdTs: number;
  readonly uploadedTs: number | null;
  readonly expiresTs: number | null;
  readonly uploader: string | null;
}

export interface ThumbnailRecord {
  readonly method: "crop" | "scale";
  readonly boxWidth: number;
  readonly boxHeight: number;
  readonly animated: boolean;
  readonly width: number;
  readonly height: number;
  readonly contentType: string;
  readonly size: number;
}

/** The content of a file that has been written and fsynced. */
export interface StoredContent {
  readonly contentType: string;
  readonly uploadName: string | null;
  readonly size: number;
  readonly sha256: string;
}

type Row = Record<string, unknown>;

const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));

function toRecord(r: Row): MediaRecord {
  return {
    origin: r.origin as string,
    mediaId: r.media_id as string,
    contentType: (r.content_type as string | null) ?? null,
    uploadName: (r.upload_name as string | null) ?? null,
    size: num(r.size),
    sha256: (r.sha256 as string | null) ?? null,
    createdTs: Number(r.created_ts),
    uploadedTs: num(r.uploaded_ts),
    expiresTs: num(r.expires_ts),
    uploader: (r.uploader as string | null) ?? null,
  };
}

export class MediaStore {
  constructor(private readonly db: Database) {}

  async get(origin: string, mediaId: string): Promise<MediaRecord | undefined> {
    const row = await this.db.knex("media").where({ origin, media_id: mediaId }).first();
    return row ? toRecord(row) : undefined;
  }

  /** A finished local upload or a fetched remote file, in one insert. False if the id is taken. */
  async insertComplete(origin: string, mediaId: string, content: StoredContent, uploader: string | null, now: number): Promise<boolean> {
    try {
      await this.db.knex("media").insert({
        origin, media_id: mediaId, content_type: content.contentType, upload_name: content.uploadName, size: content.size,
        sha256: content.sha256, created_ts: now, uploaded_ts: now, expires_ts: null, uploader,
      });
      return true;
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
  }

  /** An mxc URI reserved by /create, to be filled before `expiresTs`. */
  async insertPending(origin: string, mediaId: string, uploader: string, now: number, expiresTs: number): Promise<void> {
    await this.db.knex("media").insert({ origin, media_id: mediaId, created_ts: now, expires_ts: expiresTs, uploader });
  }

  /** Fill a pending row; false when it is no longer pending (filled meanwhile). */
  async complete(origin: string, mediaId: string, content: StoredContent, now: number): Promise<boolean> {
    const n = await this.db.knex("media").where({ origin, media_id: mediaId }).whereNull("uploaded_ts").update({
      content_type: content.contentType, upload_name: content.uploadName, size: content.size, sha256: content.sha256,
      uploaded_ts: now, expires_ts: null,
    });
    return n === 1;
  }

  /** A user's reservations that have neither been filled nor lapsed (the spec's "pending media uploads"). */
  async countPending(uploader: string, now: number): Promise<number> {
    const row = await this.db.knex("media").where({ uploader }).whereNull("uploaded_ts").where("expires_ts", ">", now).count({ n: "*" }).first();
    return Number(row?.n ?? 0);
  }

  /** Forget a user's lapsed reservations; returns how many. */
  async deleteExpiredPending(uploader: string, now: number): Promise<number> {
    return this.db.knex("media").where({ uploader }).whereNull("uploaded_ts").where("expires_ts", "<=", now).delete();
  }

  async thumbnails(origin: string, mediaId: string): Promise<ThumbnailRecord[]> {
    const rows = (await this.db.knex("media_thumbnails").where({ origin, media_id: mediaId })) as Row[];
    return rows.map((r) => ({
      method: r.method as "crop" | "scale",
      boxWidth: Number(r.box_width),
      boxHeight: Number(r.box_height),
      animated: r.animated === true || r.animated === 1,
      width: Number(r.width),
      height: Number(r.height),
      contentType: r.content_type as string,
      size: Number(r.size),
    }));
  }

  /** Record a generated thumbnail (its file already written); a concurrent identical one is kept as it is. */
  async insertThumbnail(origin: string, mediaId: string, t: ThumbnailRecord, now: number): Promise<void> {
    try {
      await this.db.knex("media_thumbnails").insert({
        origin, media_id: mediaId, method: t.method, box_width: t.boxWidth, box_height: t.boxHeight, animated: t.animated,
        width: t.width, height: t.height, content_type: t.contentType, size: t.size, created_ts: now,
      });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
    }
  }

  async deleteThumbnail(origin: string, mediaId: string, t: Pick<ThumbnailRecord, "method" | "boxWidth" | "boxHeight" | "animated">): Promise<void> {
    await this.db.knex("media_thumbnails")
      .where({ origin, media_id: mediaId, method: t.method, box_width: t.boxWidth, box_height: t.boxHeight, animated: t.animated })
      .delete();
  }
}
