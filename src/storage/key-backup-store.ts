/**
 * Server-side key backups: per user, numbered backup versions, each
 * holding encrypted Megolm session keys by room and session. The server
 * never reads the keys; it only keeps, for each session, the best copy it
 * was given (see `isBetter`), counts them, and tags the set with an etag
 * that changes exactly when the stored keys change.
 *
 * Versions are the user's increasing integers, exposed as strings. The
 * current version is the highest one not deleted; only it accepts keys.
 * Every write runs under a per-user lock, so the "is this the current
 * version" check and the write it guards cannot interleave with another
 * request of the same user (a new version created mid-upload, say), and
 * two creations never pick the same number.
 */
import type { Knex } from "knex";
import type { JsonObject } from "../room/types.js";
import { KeyedMutex } from "../util/keyed-mutex.js";
import type { Database } from "./database.js";
import { inTransaction } from "./tx.js";

export interface KeyBackupData {
  first_message_index: number;
  forwarded_count: number;
  is_verified: boolean;
  session_data: JsonObject;
}

export interface BackupVersionInfo {
  version: string;
  algorithm: string;
  auth_data: JsonObject;
  count: number;
  etag: string;
}

/** What a change to a version's keys leaves behind (the body of the API's answer). */
export interface KeysState {
  etag: string;
  count: number;
}

/** One session's key as uploaded. */
export interface SessionUpload {
  roomId: string;
  sessionId: string;
  data: KeyBackupData;
}

/** room id -> session id -> key data */
export type StoredKeys = Record<string, Record<string, KeyBackupData>>;

export type UploadResult =
  | { kind: "stored"; state: KeysState }
  | { kind: "not_found" }
  | { kind: "wrong_version"; currentVersion: string };

export type UpdateResult = "updated" | "not_found" | "algorithm_mismatch";
export type DeleteVersionResult = "deleted" | "already_deleted" | "not_found";

/**
 * Whether an uploaded key should replace the stored one, in the spec's
 * order: a verified key beats an unverified one; then the lower
 * first_message_index (it decrypts more of the session); then the lower
 * forwarded_count. A key equal on all three keeps the stored copy, so a
 * repeated upload changes nothing and leaves the etag alone.
 */
export function isBetter(candidate: KeyBackupData, stored: KeyBackupData): boolean {
  if (candidate.is_verified !== stored.is_verified) return candidate.is_verified;
  if (candidate.first_message_index !== stored.first_message_index) {
    return candidate.first_message_index < stored.first_message_index;
  }
  return candidate.forwarded_count < stored.forwarded_count;
}

/** A version as clients name it: a decimal integer from 1, no leading zeros, within JS's safe range. */
export function parseVersion(version: string): number | undefined {
  if (!/^[1-9][0-9]{0,14}$/.test(version)) return undefined;
  return Number(version);
}

const SESSIONS = "key_backup_sessions";
const VERSIONS = "key_backup_versions";
/**
 * Rows per statement when reading or writing many sessions: well under
 * SQLite's and PostgreSQL's bound-parameter limits (8 columns a row on
 * insert), and few statements for a large upload.
 */
const CHUNK = 500;

interface SessionRow {
  room_id: string;
  session_id: string;
  first_message_index: number | string;
  forwarded_count: number | string;
  is_verified: boolean | number;
  session_data: string;
}

interface VersionRow {
  version: number | string;
  algorithm: string;
  auth_data: string;
  etag: number | string;
  deleted: boolean | number;
}

/** SQLite hands back booleans as 0/1 and PostgreSQL bigints may arrive as strings: normalise both. */
function keyOf(r: SessionRow): KeyBackupData {
  return {
    first_message_index: Number(r.first_message_index),
    forwarded_count: Number(r.forwarded_count),
    is_verified: Boolean(r.is_verified),
    session_data: JSON.parse(r.session_data) as JsonObject,
  };
}

export class KeyBackupStore {
  private readonly writes = new KeyedMutex();

  constructor(private readonly db: Database) {}

  /** Create a new version, which becomes the current one. Returns its number. */
  createVersion(userId: string, algorithm: string, authData: JsonObject): Promise<string> {
    return this.writes.run(userId, () =>
      inTransaction(this.db, async ({ trx }) => {
        // Deleted versions count too: a number is never handed out twice.
        const row = await trx(VERSIONS).where({ user_id: userId }).max({ max: "version" }).first();
        const version = Number(row?.max ?? 0) + 1;
        await trx(VERSIONS).insert({ user_id: userId, version, algorithm, auth_data: JSON.stringify(authData), etag: 0, deleted: false });
        return String(version);
      }),
    );
  }

  /** The current version with its key count and etag, if the user has one. */
  async currentVersion(userId: string): Promise<BackupVersionInfo | undefined> {
    const row = await this.liveVersions(this.db.knex, userId).orderBy("version", "desc").first();
    return row ? this.info(this.db.knex, userId, row) : undefined;
  }

  /** A version that exists and is not deleted. */
  async getVersion(userId: string, version: string): Promise<BackupVersionInfo | undefined> {
    const row = await this.liveVersion(this.db.knex, userId, version);
    return row ? this.info(this.db.knex, userId, row) : undefined;
  }

  /** Replace a version's auth_data; the algorithm cannot change. */
  updateVersion(userId: string, version: string, algorithm: string, authData: JsonObject): Promise<UpdateResult> {
    return this.writes.run(userId, async () => {
      const row = await this.liveVersion(this.db.knex, userId, version);
      if (!row) return "not_found";
      if (row.algorithm !== algorithm) return "algorithm_mismatch";
      await this.db.knex(VERSIONS).where({ user_id: userId, version: Number(row.version) }).update({ auth_data: JSON.stringify(authData) });
      return "updated";
    });
  }

  /** Delete a version and its keys, keeping a tombstone so the number stays used. */
  deleteVersion(userId: string, version: string): Promise<DeleteVersionResult> {
    const n = parseVersion(version);
    if (n === undefined) return Promise.resolve("not_found");
    return this.writes.run(userId, () =>
      inTransaction(this.db, async ({ trx }) => {
        const row: VersionRow | undefined = await trx(VERSIONS).where({ user_id: userId, version: n }).first();
        if (!row) return "not_found";
        if (row.deleted) return "already_deleted";
        await trx(SESSIONS).where({ user_id: userId, version: n }).delete();
        await trx(VERSIONS).where({ user_id: userId, version: n }).update({ deleted: true });
        return "deleted";
      }),
    );
  }

  /**
   * Store uploaded keys in the current version, each replacing the stored
   * copy only if it is better. All or nothing, in one transaction, and in
   * a bounded number of statements: the stored copies are read in chunks,
   * compared here, and the winners written back in chunks.
   */
  putKeys(userId: string, version: string, uploads: readonly SessionUpload[]): Promise<UploadResult> {
    return this.writes.run(userId, () =>
      inTransaction(this.db, async ({ trx }): Promise<UploadResult> => {
        const current = await this.liveVersions(trx, userId).orderBy("version", "desc").first("version");
        if (!current) return { kind: "not_found" };
        const currentVersion = String(current.version);
        if (version !== currentVersion) {
          // A version that still exists but is not the newest: tell the client which one is.
          const other = await this.liveVersion(trx, userId, version);
          return other ? { kind: "wrong_version", currentVersion } : { kind: "not_found" };
        }
        const n = Number(current.version);

        const stored = new Map<string, KeyBackupData>();
        const key = (roomId: string, sessionId: string) => JSON.stringify([roomId, sessionId]);
        for (let i = 0; i < uploads.length; i += CHUNK) {
          const pairs = uploads.slice(i, i + CHUNK).map((u) => [u.roomId, u.sessionId]);
          const rows: SessionRow[] = await trx(SESSIONS)
            .where({ user_id: userId, version: n })
            .whereIn(["room_id", "session_id"], pairs)
            .select("room_id", "session_id", "first_message_index", "forwarded_count", "is_verified", "session_data");
          for (const r of rows) stored.set(key(r.room_id, r.session_id), keyOf(r));
        }

        const winners: Record<string, unknown>[] = [];
        for (const u of uploads) {
          const k = key(u.roomId, u.sessionId);
          const old = stored.get(k);
          if (old && !isBetter(u.data, old)) continue;
          // A JSON body cannot name a session twice, but the store does not rely on it:
          // a repeat is compared with the earlier copy, and only the last winner is written.
          stored.set(k, u.data);
          winners.push({
            user_id: userId, version: n, room_id: u.roomId, session_id: u.sessionId,
            first_message_index: u.data.first_message_index, forwarded_count: u.data.forwarded_count,
            is_verified: u.data.is_verified, session_data: JSON.stringify(u.data.session_data),
          });
        }
        // One row per session, or PostgreSQL refuses an upsert that touches a row twice.
        const rows = [...new Map(winners.map((w) => [key(w.room_id as string, w.session_id as string), w])).values()];
        for (let i = 0; i < rows.length; i += CHUNK) {
          await trx(SESSIONS)
            .insert(rows.slice(i, i + CHUNK))
            .onConflict(["user_id", "version", "room_id", "session_id"])
            .merge(["first_message_index", "forwarded_count", "is_verified", "session_data"]);
        }
        if (rows.length > 0) await trx(VERSIONS).where({ user_id: userId, version: n }).increment("etag", 1);
        return { kind: "stored", state: await this.state(trx, userId, n) };
      }),
    );
  }

  /** Keys of a version (any live one), narrowed to a room or a session; undefined if the version is not live. */
  async getKeys(userId: string, version: string, roomId?: string, sessionId?: string): Promise<StoredKeys | undefined> {
    const row = await this.liveVersion(this.db.knex, userId, version);
    if (!row) return undefined;
    const q = this.db.knex(SESSIONS).where({ user_id: userId, version: Number(row.version) });
    if (roomId !== undefined) q.andWhere({ room_id: roomId });
    if (sessionId !== undefined) q.andWhere({ session_id: sessionId });
    const rows: SessionRow[] = await q.select("room_id", "session_id", "first_message_index", "forwarded_count", "is_verified", "session_data");
    const out: StoredKeys = {};
    for (const r of rows) (out[r.room_id] ??= {})[r.session_id] = keyOf(r);
    return out;
  }

  /** Delete keys of a version (any live one, not only the current), narrowed to a room or a session. */
  deleteKeys(userId: string, version: string, roomId?: string, sessionId?: string): Promise<KeysState | undefined> {
    return this.writes.run(userId, () =>
      inTransaction(this.db, async ({ trx }) => {
        const row = await this.liveVersion(trx, userId, version);
        if (!row) return undefined;
        const n = Number(row.version);
        const q = trx(SESSIONS).where({ user_id: userId, version: n });
        if (roomId !== undefined) q.andWhere({ room_id: roomId });
        if (sessionId !== undefined) q.andWhere({ session_id: sessionId });
        const deleted = await q.delete();
        if (Number(deleted) > 0) await trx(VERSIONS).where({ user_id: userId, version: n }).increment("etag", 1);
        return this.state(trx, userId, n);
      }),
    );
  }

  private liveVersions(k: Knex, userId: string): Knex.QueryBuilder {
    return k(VERSIONS).where({ user_id: userId, deleted: false });
  }

  private async liveVersion(k: Knex, userId: string, version: string): Promise<VersionRow | undefined> {
    const n = parseVersion(version);
    if (n === undefined) return undefined;
    return this.liveVersions(k, userId).andWhere({ version: n }).first();
  }

  private async state(k: Knex, userId: string, version: number): Promise<KeysState> {
    const v = await k(VERSIONS).where({ user_id: userId, version }).first("etag");
    return { etag: String(v?.etag ?? 0), count: await this.count(k, userId, version) };
  }

  private async count(k: Knex, userId: string, version: number): Promise<number> {
    const c = await k(SESSIONS).where({ user_id: userId, version }).count({ n: "*" }).first();
    return Number(c?.n ?? 0);
  }

  private async info(k: Knex, userId: string, row: VersionRow): Promise<BackupVersionInfo> {
    const version = Number(row.version);
    return {
      version: String(version), algorithm: row.algorithm, auth_data: JSON.parse(row.auth_data) as JsonObject,
      count: await this.count(k, userId, version), etag: String(row.etag),
    };
  }
}
