/**
 * Users, their devices and access tokens. Tokens are looked up by their
 * SHA-256, so the database never holds a usable token.
 */
import { createHash, randomBytes } from "node:crypto";
import type { Knex } from "knex";
import { hashPassword, verifyPassword } from "../crypto/password.js";
import { isUniqueViolation, type Database } from "./database.js";

export interface UserRow {
  userId: string;
  admin: boolean;
  deactivated: boolean;
  createdTs: number;
}

export interface TokenOwner {
  userId: string;
  deviceId: string;
}

export interface Session extends TokenOwner {
  accessToken: string;
  refreshToken?: string;
  expiresInMs?: number;
}

function tokenHash(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export class AccountStore {
  constructor(private readonly db: Database) {}

  /** Create a user; false if the id is taken (also when another request took it a moment ago). */
  async createUser(userId: string, password: string | null, opts: { admin?: boolean } = {}): Promise<boolean> {
    const passwordHash = password === null ? null : await hashPassword(password);
    try {
      await this.db.knex("users").insert({
        user_id: userId,
        password_hash: passwordHash,
        admin: opts.admin ?? false,
        deactivated: false,
        created_ts: Date.now(),
      });
      return true;
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
  }

  async getUser(userId: string): Promise<UserRow | undefined> {
    const r = await this.db.knex("users").where({ user_id: userId }).first();
    if (!r) return undefined;
    return { userId: r.user_id, admin: Boolean(r.admin), deactivated: Boolean(r.deactivated), createdTs: Number(r.created_ts) };
  }

  async checkPassword(userId: string, password: string): Promise<boolean> {
    const r = await this.db.knex("users").where({ user_id: userId }).first("password_hash", "deactivated");
    if (!r || !r.password_hash || r.deactivated) return false;
    return verifyPassword(password, r.password_hash);
  }

  /**
   * Create (or reuse) a device and issue a fresh access token for it. With
   * `refreshLifetimeMs`, the access token expires after that long and a
   * refresh token renews it (POST /refresh).
   */
  async createSession(
    userId: string,
    deviceId?: string,
    displayName?: string,
    refreshLifetimeMs?: number,
  ): Promise<Session> {
    const device = deviceId ?? randomBytes(5).toString("hex").toUpperCase();
    const now = Date.now();
    return this.db.knex.transaction(async (trx) => {
      await trx("devices")
        .insert({ user_id: userId, device_id: device, display_name: displayName ?? null, created_ts: now })
        .onConflict(["user_id", "device_id"])
        .ignore();
      // A device holds one session at a time: logging in again on it ends the old one.
      await trx("access_tokens").where({ user_id: userId, device_id: device }).del();
      await trx("refresh_tokens").where({ user_id: userId, device_id: device }).del();
      return this.issueTokens(trx, userId, device, now, refreshLifetimeMs);
    });
  }

  /** Trade a refresh token for new tokens; the old refresh and access tokens stop working. */
  async refresh(refreshToken: string, lifetimeMs: number): Promise<Session | undefined> {
    return this.db.knex.transaction(async (trx) => {
      const row = await trx("refresh_tokens").where({ token_hash: tokenHash(refreshToken) }).first("user_id", "device_id");
      if (!row) return undefined;
      await trx("refresh_tokens").where({ token_hash: tokenHash(refreshToken) }).del();
      await trx("access_tokens").where({ user_id: row.user_id, device_id: row.device_id }).del();
      return this.issueTokens(trx, row.user_id, row.device_id, Date.now(), lifetimeMs);
    });
  }

  private async issueTokens(trx: Knex, userId: string, deviceId: string, now: number, refreshLifetimeMs?: number): Promise<Session> {
    const accessToken = "mat_" + randomBytes(24).toString("base64url");
    const expires = refreshLifetimeMs === undefined ? null : now + refreshLifetimeMs;
    await trx("access_tokens").insert({ token_hash: tokenHash(accessToken), user_id: userId, device_id: deviceId, created_ts: now, expires_ts: expires });
    const session: Session = { userId, deviceId, accessToken };
    if (refreshLifetimeMs !== undefined) {
      const refreshToken = "mar_" + randomBytes(24).toString("base64url");
      await trx("refresh_tokens").insert({ token_hash: tokenHash(refreshToken), user_id: userId, device_id: deviceId, created_ts: now });
      session.refreshToken = refreshToken;
      session.expiresInMs = refreshLifetimeMs;
    }
    return session;
  }

  async setPassword(userId: string, password: string): Promise<void> {
    await this.db.knex("users").where({ user_id: userId }).update({ password_hash: await hashPassword(password) });
  }

  /** End every session of a user except the one on `keepDevice`. */
  async endOtherSessions(userId: string, keepDevice: string): Promise<void> {
    await this.db.knex.transaction(async (trx) => {
      await trx("access_tokens").where({ user_id: userId }).whereNot({ device_id: keepDevice }).del();
      await trx("refresh_tokens").where({ user_id: userId }).whereNot({ device_id: keepDevice }).del();
      await trx("devices").where({ user_id: userId }).whereNot({ device_id: keepDevice }).del();
    });
  }

  /** Deactivate: no more logins, no sessions, no password. The user id stays taken for ever. */
  async deactivate(userId: string): Promise<void> {
    await this.db.knex.transaction(async (trx) => {
      await trx("users").where({ user_id: userId }).update({ deactivated: true, password_hash: null });
      await trx("access_tokens").where({ user_id: userId }).del();
      await trx("refresh_tokens").where({ user_id: userId }).del();
      await trx("devices").where({ user_id: userId }).del();
    });
  }

  async userExists(userId: string): Promise<boolean> {
    return (await this.db.knex("users").where({ user_id: userId }).first("user_id")) !== undefined;
  }

  /** End one session: its token, and the device it was on. */
  async endSession(token: string): Promise<void> {
    const owner = await this.ownerOfToken(token);
    if (!owner) return;
    await this.db.knex.transaction(async (trx) => {
      await trx("access_tokens").where({ user_id: owner.userId, device_id: owner.deviceId }).del();
      await trx("refresh_tokens").where({ user_id: owner.userId, device_id: owner.deviceId }).del();
      await trx("devices").where({ user_id: owner.userId, device_id: owner.deviceId }).del();
    });
  }

  /** End every session of a user. */
  async endAllSessions(userId: string): Promise<void> {
    await this.db.knex.transaction(async (trx) => {
      await trx("access_tokens").where({ user_id: userId }).del();
      await trx("refresh_tokens").where({ user_id: userId }).del();
      await trx("devices").where({ user_id: userId }).del();
    });
  }

  /** Who holds a token; `expired` for a refreshable token past its lifetime (the client should refresh). */
  async ownerOfToken(token: string): Promise<(TokenOwner & { expired?: boolean }) | undefined> {
    const r = await this.db.knex("access_tokens").where({ token_hash: tokenHash(token) }).first("user_id", "device_id", "expires_ts");
    if (!r) return undefined;
    const expired = r.expires_ts !== null && Number(r.expires_ts) < Date.now();
    return { userId: r.user_id, deviceId: r.device_id, ...(expired ? { expired } : {}) };
  }
}
