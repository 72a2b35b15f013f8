/**
 * Users, their devices and access tokens. Tokens are looked up by their
 * SHA-256, so the database never holds a usable token.
 */
import { createHash, randomBytes } from "node:crypto";
import type { Knex } from "knex";
import { hashPassword, verifyPassword } from "../crypto/password.js";
import { isUniqueViolation, type Database } from "./database.js";
import { inTransaction, type TxContext } from "./tx.js";
import { Lru } from "../util/lru.js";

/** Sessions whose token lookups are held in memory (a few hundred bytes each). */
const TOKEN_CACHE_SIZE = 20_000;

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

export interface Device {
  deviceId: string;
  displayName: string | null;
  lastSeenTs: number | null;
  lastSeenIp: string | null;
}

/** Runs inside the transaction that removes devices, so what hangs off them goes with them. */
export type DeviceRemovalHook = (tx: TxContext, userId: string, deviceIds: readonly string[]) => Promise<void>;

export interface Session extends TokenOwner {
  accessToken: string;
  refreshToken?: string;
  expiresInMs?: number;
}

function tokenHash(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** How stale a device's last-seen time may get in the database. */
const SEEN_WRITE_INTERVAL_MS = 5 * 60_000;

export class AccountStore {
  private readonly removalHooks: DeviceRemovalHook[] = [];
  private readonly lastSeen = new Map<string, { ts: number; ip: string | null }>();
  /** Access tokens by hash: every request looks its token up, and a token changes owner never. */
  private readonly tokens = new Lru<string, { userId: string; deviceId: string; expiresTs: number | null }>(TOKEN_CACHE_SIZE);
  private tokenEpoch = 0;

  constructor(private readonly db: Database) {}

  onDevicesRemoved(hook: DeviceRemovalHook): void {
    this.removalHooks.push(hook);
  }

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
    return this.revokingTokens(() => this.db.knex.transaction(async (trx) => {
      await trx("devices")
        .insert({ user_id: userId, device_id: device, display_name: displayName ?? null, created_ts: now })
        .onConflict(["user_id", "device_id"])
        .ignore();
      // A device holds one session at a time: logging in again on it ends the old one.
      await trx("access_tokens").where({ user_id: userId, device_id: device }).del();
      await trx("refresh_tokens").where({ user_id: userId, device_id: device }).del();
      return this.issueTokens(trx, userId, device, now, refreshLifetimeMs);
    }));
  }

  /**
   * A device with no session (a dehydrated device: keys, but no access
   * token), with whatever else must commit with it; false if the user
   * already has a device of that id.
   */
  async createDeviceWithoutSession(userId: string, deviceId: string, displayName: string | null, alsoIn: (trx: Knex.Transaction) => Promise<void>): Promise<boolean> {
    return this.db.knex.transaction(async (trx) => {
      const taken = await trx("devices").where({ user_id: userId, device_id: deviceId }).first("device_id");
      if (taken) return false;
      await trx("devices").insert({ user_id: userId, device_id: deviceId, display_name: displayName, created_ts: Date.now() });
      await alsoIn(trx);
      return true;
    });
  }

  /** Trade a refresh token for new tokens; the old refresh and access tokens stop working. */
  async refresh(refreshToken: string, lifetimeMs: number): Promise<Session | undefined> {
    return this.revokingTokens(() => this.db.knex.transaction(async (trx) => {
      const row = await trx("refresh_tokens").where({ token_hash: tokenHash(refreshToken) }).first("user_id", "device_id");
      if (!row) return undefined;
      await trx("refresh_tokens").where({ token_hash: tokenHash(refreshToken) }).del();
      await trx("access_tokens").where({ user_id: row.user_id, device_id: row.device_id }).del();
      return this.issueTokens(trx, row.user_id, row.device_id, Date.now(), lifetimeMs);
    }));
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
    await this.removeDevices(userId, (q) => q.whereNot({ device_id: keepDevice }));
  }

  /** Deactivate: no more logins, no sessions, no password. The user id stays taken for ever. */
  async deactivate(userId: string): Promise<void> {
    await this.removeDevices(userId, (q) => q, async (trx) => {
      await trx("users").where({ user_id: userId }).update({ deactivated: true, password_hash: null });
    });
  }

  /** Delete devices by id (their sessions and everything hanging off them); unknown ids are ignored. */
  async deleteDevices(userId: string, deviceIds: readonly string[]): Promise<void> {
    if (deviceIds.length) await this.removeDevices(userId, (q) => q.whereIn("device_id", [...deviceIds]));
  }

  /**
   * One path for every way a device goes away: its tokens, the device row
   * and (through the hooks) its keys and messages, in one transaction.
   */
  private async removeDevices(
    userId: string,
    which: (q: Knex.QueryBuilder) => Knex.QueryBuilder,
    alsoIn?: (trx: Knex.Transaction) => Promise<void>,
  ): Promise<void> {
    await this.revokingTokens(() => inTransaction(this.db, async (tx) => {
      const { trx } = tx;
      await alsoIn?.(trx);
      const rows: { device_id: string }[] = await which(trx("devices").where({ user_id: userId })).select("device_id");
      // Tokens may name a device whose row is gone (older data): match them by the same rule.
      await which(trx("access_tokens").where({ user_id: userId })).del();
      await which(trx("refresh_tokens").where({ user_id: userId })).del();
      await which(trx("devices").where({ user_id: userId })).del();
      const ids = rows.map((r) => r.device_id);
      if (ids.length) for (const hook of this.removalHooks) await hook(tx, userId, ids);
    }));
  }

  /**
   * Run a change that may delete access tokens. The token cache is emptied
   * before it (so no request trusts a token being revoked) and after its
   * commit; a lookup that read the database meanwhile does not fill the
   * cache (the epoch moved), since what it read may predate the commit.
   */
  private async revokingTokens<T>(change: () => Promise<T>): Promise<T> {
    this.tokenEpoch++;
    this.tokens.clear();
    try {
      return await change();
    } finally {
      this.tokenEpoch++;
      this.tokens.clear();
    }
  }

  async devices(userId: string): Promise<Device[]> {
    const rows: Record<string, unknown>[] = await this.db.knex("devices").where({ user_id: userId }).orderBy("device_id").select("*");
    return rows.map(toDevice);
  }

  async device(userId: string, deviceId: string): Promise<Device | undefined> {
    const r = await this.db.knex("devices").where({ user_id: userId, device_id: deviceId }).first();
    return r ? toDevice(r) : undefined;
  }

  /** Rename a device; false when the user has no such device. */
  async renameDevice(userId: string, deviceId: string, displayName: string): Promise<boolean> {
    return (await this.db.knex("devices").where({ user_id: userId, device_id: deviceId }).update({ display_name: displayName })) > 0;
  }

  /**
   * Remember when and from where a device was last used (as /devices
   * shows). Written at most every few minutes per device, and never on the
   * caller's path: a /sync loop must not turn into a stream of writes.
   */
  noteSeen(userId: string, deviceId: string, ip: string | null): void {
    const key = `${userId}\0${deviceId}`;
    const now = Date.now();
    const last = this.lastSeen.get(key);
    if (last && now - last.ts < SEEN_WRITE_INTERVAL_MS && last.ip === ip) return;
    if (this.lastSeen.size > 50_000) this.lastSeen.clear();
    this.lastSeen.set(key, { ts: now, ip });
    this.db.knex("devices").where({ user_id: userId, device_id: deviceId }).update({ last_seen_ts: now, last_seen_ip: ip })
      .catch(() => this.lastSeen.delete(key));
  }

  async userExists(userId: string): Promise<boolean> {
    return (await this.db.knex("users").where({ user_id: userId }).first("user_id")) !== undefined;
  }

  /** End one session: its token, and the device it was on. */
  async endSession(token: string): Promise<void> {
    const owner = await this.ownerOfToken(token);
    if (owner) await this.deleteDevices(owner.userId, [owner.deviceId]);
  }

  /** End every session of a user. */
  async endAllSessions(userId: string): Promise<void> {
    await this.removeDevices(userId, (q) => q);
  }

  /** Who holds a token; `expired` for a refreshable token past its lifetime (the client should refresh). */
  async ownerOfToken(token: string): Promise<(TokenOwner & { expired?: boolean }) | undefined> {
    const hash = tokenHash(token);
    let held = this.tokens.get(hash);
    if (!held) {
      const epoch = this.tokenEpoch;
      const r = await this.db.knex("access_tokens").where({ token_hash: hash }).first("user_id", "device_id", "expires_ts");
      if (!r) return undefined;
      held = { userId: r.user_id, deviceId: r.device_id, expiresTs: r.expires_ts === null ? null : Number(r.expires_ts) };
      if (epoch === this.tokenEpoch) this.tokens.set(hash, held);
    }
    const expired = held.expiresTs !== null && held.expiresTs < Date.now();
    return { userId: held.userId, deviceId: held.deviceId, ...(expired ? { expired } : {}) };
  }
}

function toDevice(r: Record<string, unknown>): Device {
  return {
    deviceId: String(r.device_id),
    displayName: (r.display_name as string | null) ?? null,
    lastSeenTs: r.last_seen_ts === null || r.last_seen_ts === undefined ? null : Number(r.last_seen_ts),
    lastSeenIp: (r.last_seen_ip as string | null) ?? null,
  };
}
