/** Registration tokens, with how often and until when each may be used. */
import { randomBytes } from "node:crypto";
import type { Database } from "./database.js";

export interface RegistrationToken {
  token: string;
  uses_allowed: number | null;
  completed: number;
  expiry_time: number | null;
}

export class RegistrationTokenStore {
  constructor(private readonly db: Database) {}

  async create(opts: { token?: string; usesAllowed?: number | null; expiryTime?: number | null }): Promise<RegistrationToken> {
    const row: RegistrationToken = {
      token: opts.token ?? randomBytes(12).toString("base64url"),
      uses_allowed: opts.usesAllowed ?? null,
      completed: 0,
      expiry_time: opts.expiryTime ?? null,
    };
    await this.db.knex("registration_tokens").insert(row);
    return row;
  }

  async list(): Promise<RegistrationToken[]> {
    const rows: RegistrationToken[] = await this.db.knex("registration_tokens").select("*").orderBy("token");
    return rows.map((r) => ({ ...r, expiry_time: r.expiry_time === null ? null : Number(r.expiry_time) }));
  }

  /** Whether the token exists, has not expired and has uses left. */
  async isValid(token: string, now = Date.now()): Promise<boolean> {
    const r = await this.db.knex("registration_tokens").where({ token }).first();
    if (!r) return false;
    if (r.expiry_time !== null && Number(r.expiry_time) <= now) return false;
    return r.uses_allowed === null || Number(r.completed) < Number(r.uses_allowed);
  }

  /** Count one completed registration; false if the token ran out meanwhile. */
  async use(token: string): Promise<boolean> {
    const updated = await this.db.knex("registration_tokens")
      .where({ token })
      .andWhere((q) => q.whereNull("uses_allowed").orWhereRaw("completed < uses_allowed"))
      .increment("completed", 1);
    return Number(updated) > 0;
  }
}
