/**
 * Users' profiles (display name, avatar URL). Local users only; remote
 * profiles are asked of their servers.
 */
import type { Database } from "./database.js";

export interface Profile {
  displayname?: string;
  avatar_url?: string;
}

export class ProfileStore {
  constructor(private readonly db: Database) {}

  async get(userId: string): Promise<Profile | undefined> {
    const r = await this.db.knex("profiles").where({ user_id: userId }).first("displayname", "avatar_url");
    if (!r) return undefined;
    const out: Profile = {};
    if (r.displayname !== null) out.displayname = r.displayname;
    if (r.avatar_url !== null) out.avatar_url = r.avatar_url;
    return out;
  }

  async set(userId: string, field: "displayname" | "avatar_url", value: string | null): Promise<void> {
    await this.db.knex("profiles")
      .insert({ user_id: userId, [field]: value })
      .onConflict("user_id")
      .merge([field]);
  }
}
