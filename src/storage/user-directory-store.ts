/**
 * The user directory, answered by queries over what is already kept
 * (room_memberships, current_state, profiles, users) rather than a table
 * of its own: nothing to keep in step with profile and membership changes,
 * and on a small server the candidates (members of the searcher's rooms
 * and of public rooms) are few. The public and world-readable rooms are
 * found through an index on current_state(type, state_key) (migration
 * 0015), reading one small JSON event per room.
 *
 * Display names: a local user's is their profile; a remote user's is the
 * one in their member event (remote profiles are not kept here).
 * Matching: each word of the term must begin the user id's localpart or
 * a word of the display name, case-insensitively (ASCII case only on
 * SQLite, whose LOWER() folds nothing else).
 */
import type { Knex } from "knex";
import type { Database } from "./database.js";

export interface DirectoryEntry {
  readonly userId: string;
  readonly displayName?: string;
  readonly avatarUrl?: string;
}

export interface DirectoryQuery {
  readonly searcher: string;
  readonly words: readonly string[];
  readonly limit: number;
  /** Every local user is a candidate, not only those the searcher can see in rooms. */
  readonly allLocalUsers: boolean;
}

/** At most this many words of a term are used. */
const MAX_WORDS = 8;

/** The words of a directory search: split on spaces, a leading @ dropped (a typed user id), lower-cased. */
export function directoryWords(term: string): string[] {
  return term
    .toLowerCase()
    .split(/\s+/u)
    .map((w) => w.replace(/^@/, ""))
    .filter((w) => w !== "")
    .slice(0, MAX_WORDS);
}

function likeEscape(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

export class UserDirectoryStore {
  constructor(private readonly db: Database) {}

  /** A string field of an event's content, in this engine's JSON dialect. */
  private contentField(column: string, field: string): string {
    return this.db.dialect === "postgres" ? `(${column}::jsonb #>> '{content,${field}}')` : `json_extract(${column}, '$.content.${field}')`;
  }

  async search(q: DirectoryQuery): Promise<{ results: DirectoryEntry[]; limited: boolean }> {
    if (q.words.length === 0 || q.limit <= 0) return { results: [], limited: false };
    const knex = this.db.knex;
    const bindings: Knex.RawBinding[] = [];
    // Rooms whose joined members the searcher may find: their own, and the public or world-readable ones.
    const roomsSeen = `
      SELECT room_id FROM room_memberships WHERE user_id = ? AND membership = 'join'
      UNION
      SELECT cs.room_id FROM current_state cs JOIN events e ON e.nid = cs.event_nid
       WHERE cs.type = 'm.room.join_rules' AND cs.state_key = '' AND ${this.contentField("e.json", "join_rule")} = 'public'
      UNION
      SELECT cs.room_id FROM current_state cs JOIN events e ON e.nid = cs.event_nid
       WHERE cs.type = 'm.room.history_visibility' AND cs.state_key = '' AND ${this.contentField("e.json", "history_visibility")} = 'world_readable'`;
    bindings.push(q.searcher);
    let candidates = `SELECT user_id FROM room_memberships WHERE membership = 'join' AND room_id IN (${roomsSeen})`;
    if (q.allLocalUsers) candidates += ` UNION SELECT user_id FROM users`;
    const remoteName = `(SELECT ${this.contentField("me.json", "displayname")} FROM room_memberships rm JOIN events me ON me.event_id = rm.event_id
       WHERE rm.user_id = c.user_id AND rm.membership = 'join' LIMIT 1)`;
    const remoteAvatar = `(SELECT ${this.contentField("me.json", "avatar_url")} FROM room_memberships rm JOIN events me ON me.event_id = rm.event_id
       WHERE rm.user_id = c.user_id AND rm.membership = 'join' LIMIT 1)`;
    const matches: string[] = [];
    for (const w of q.words) {
      const like = likeEscape(w);
      matches.push(`(LOWER(d.user_id) LIKE ? ESCAPE '\\' OR LOWER(d.display_name) LIKE ? ESCAPE '\\' OR LOWER(d.display_name) LIKE ? ESCAPE '\\')`);
      bindings.push(`@${like}%`, `${like}%`, `% ${like}%`);
    }
    bindings.push(q.limit + 1);
    const sql = `
      SELECT d.user_id, d.display_name, d.avatar_url FROM (
        SELECT c.user_id,
               CASE WHEN u.user_id IS NULL THEN ${remoteName} ELSE p.displayname END AS display_name,
               CASE WHEN u.user_id IS NULL THEN ${remoteAvatar} ELSE p.avatar_url END AS avatar_url
          FROM (${candidates}) c
          LEFT JOIN users u ON u.user_id = c.user_id
          LEFT JOIN profiles p ON p.user_id = c.user_id
         WHERE u.user_id IS NULL OR NOT u.deactivated
      ) d
      WHERE ${matches.join(" AND ")}
      ORDER BY CASE WHEN d.display_name IS NULL THEN 1 ELSE 0 END, LOWER(COALESCE(d.display_name, d.user_id)), d.user_id
      LIMIT ?`;
    const result = await knex.raw(sql, bindings);
    const rows = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as { user_id: string; display_name: unknown; avatar_url: unknown }[];
    const results = rows.slice(0, q.limit).map((r) => {
      const entry: { userId: string; displayName?: string; avatarUrl?: string } = { userId: r.user_id };
      if (typeof r.display_name === "string" && r.display_name !== "") entry.displayName = r.display_name;
      if (typeof r.avatar_url === "string" && r.avatar_url !== "") entry.avatarUrl = r.avatar_url;
      return entry;
    });
    return { results, limited: rows.length > q.limit };
  }
}
