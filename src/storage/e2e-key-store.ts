/**
 * End-to-end keys as clients upload them: device identity keys, one-time
 * keys, fallback keys, cross-signing keys and the signatures users upload
 * on keys. Objects are stored verbatim (clients verify their signatures);
 * the server only picks them by id.
 */
import type { Knex } from "knex";
import type { JsonObject } from "../room/types.js";
import type { Database } from "./database.js";
import { ReadThroughCache } from "../util/read-through-cache.js";
import { pairKey } from "../util/pair-key.js";

export type CrossSigningUsage = "master" | "self_signing" | "user_signing";

export interface UploadedKey {
  /** `algorithm:key_id` */
  readonly id: string;
  readonly key: JsonObject;
}

export interface Signature {
  readonly targetUserId: string;
  /** A device id, or a cross-signing key's public key. */
  readonly targetKeyId: string;
  readonly signerUserId: string;
  /** `ed25519:<device id or public key>` */
  readonly signerKeyId: string;
  readonly signature: string;
}

function splitKeyId(id: string): [algorithm: string, keyId: string] {
  const i = id.indexOf(":");
  return [id.slice(0, i), id.slice(i + 1)];
}

export interface KeyCounts {
  /** Unclaimed one-time keys per algorithm. */
  readonly oneTime: Record<string, number>;
  /** Algorithms with an unused fallback key, sorted. */
  readonly unusedFallback: string[];
}

/** Devices whose key counts are held in memory: every sync answer carries them. */
const COUNTS_CACHE_SIZE = 20_000;

export class E2eKeyStore {
  private readonly counts = new ReadThroughCache<string, KeyCounts>(COUNTS_CACHE_SIZE);

  constructor(private readonly db: Database) {}

  /** The counts a sync answer carries. Writers of keys call `countsChanged` after their commit. */
  keyCounts(userId: string, deviceId: string): Promise<KeyCounts> {
    return this.counts.get(pairKey(userId, deviceId), async () => ({
      oneTime: await this.oneTimeKeyCounts(userId, deviceId),
      unusedFallback: await this.unusedFallbackKeyTypes(userId, deviceId),
    }));
  }

  countsChanged(userId: string, deviceId: string): void {
    this.counts.invalidate(pairKey(userId, deviceId));
  }

  async deviceKeys(userId: string, deviceId: string): Promise<JsonObject | undefined> {
    const r = await this.db.knex("e2e_device_keys").where({ user_id: userId, device_id: deviceId }).first("key_json");
    return r ? (JSON.parse(r.key_json) as JsonObject) : undefined;
  }

  /** Device keys of these users (every device of a user when its list is empty). */
  async deviceKeysOf(query: ReadonlyMap<string, readonly string[]>): Promise<Map<string, Map<string, JsonObject>>> {
    const out = new Map<string, Map<string, JsonObject>>();
    const users = [...query.keys()];
    for (let i = 0; i < users.length; i += 500) {
      const rows: { user_id: string; device_id: string; key_json: string }[] = await this.db.knex("e2e_device_keys")
        .whereIn("user_id", users.slice(i, i + 500))
        .select("user_id", "device_id", "key_json");
      for (const r of rows) {
        const wanted = query.get(r.user_id)!;
        if (wanted.length > 0 && !wanted.includes(r.device_id)) continue;
        let devices = out.get(r.user_id);
        if (!devices) out.set(r.user_id, (devices = new Map()));
        devices.set(r.device_id, JSON.parse(r.key_json));
      }
    }
    return out;
  }

  async putDeviceKeys(trx: Knex, userId: string, deviceId: string, keys: JsonObject): Promise<void> {
    await trx("e2e_device_keys")
      .insert({ user_id: userId, device_id: deviceId, key_json: JSON.stringify(keys) })
      .onConflict(["user_id", "device_id"])
      .merge(["key_json"]);
  }

  /** The stored one-time keys among `ids`, to tell a repeat upload from a conflicting one. */
  async existingOneTimeKeys(userId: string, deviceId: string, ids: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (let i = 0; i < ids.length; i += 200) {
      const pairs = ids.slice(i, i + 200).map(splitKeyId);
      const rows: { algorithm: string; key_id: string; key_json: string }[] = await this.db.knex("e2e_one_time_keys")
        .where({ user_id: userId, device_id: deviceId })
        .whereIn(["algorithm", "key_id"], pairs)
        .select("algorithm", "key_id", "key_json");
      for (const r of rows) out.set(`${r.algorithm}:${r.key_id}`, r.key_json);
    }
    return out;
  }

  async addOneTimeKeys(trx: Knex, userId: string, deviceId: string, keys: readonly UploadedKey[]): Promise<void> {
    this.countsChanged(userId, deviceId);
    const rows = keys.map((k) => {
      const [algorithm, keyId] = splitKeyId(k.id);
      return { user_id: userId, device_id: deviceId, algorithm, key_id: keyId, key_json: JSON.stringify(k.key) };
    });
    for (let i = 0; i < rows.length; i += 100) {
      await trx("e2e_one_time_keys").insert(rows.slice(i, i + 100)).onConflict(["user_id", "device_id", "algorithm", "key_id"]).ignore();
    }
  }

  /** A new fallback key replaces the device's old one for that algorithm (and is unused). */
  async putFallbackKeys(trx: Knex, userId: string, deviceId: string, keys: readonly UploadedKey[]): Promise<void> {
    this.countsChanged(userId, deviceId);
    for (const k of keys) {
      const [algorithm, keyId] = splitKeyId(k.id);
      const existing = await trx("e2e_fallback_keys").where({ user_id: userId, device_id: deviceId, algorithm }).first("key_id", "key_json");
      // The same key uploaded again keeps its used flag: only a new key resets it.
      if (existing && existing.key_id === keyId && existing.key_json === JSON.stringify(k.key)) continue;
      await trx("e2e_fallback_keys")
        .insert({ user_id: userId, device_id: deviceId, algorithm, key_id: keyId, key_json: JSON.stringify(k.key), used: false })
        .onConflict(["user_id", "device_id", "algorithm"])
        .merge(["key_id", "key_json", "used"]);
    }
  }

  /** Unclaimed one-time keys per algorithm. */
  async oneTimeKeyCounts(userId: string, deviceId: string): Promise<Record<string, number>> {
    const rows: { algorithm: string; n: number | string }[] = await this.db.knex("e2e_one_time_keys")
      .where({ user_id: userId, device_id: deviceId })
      .groupBy("algorithm")
      .select("algorithm")
      .count({ n: "*" });
    const out: Record<string, number> = {};
    for (const r of rows) out[r.algorithm] = Number(r.n);
    return out;
  }

  async unusedFallbackKeyTypes(userId: string, deviceId: string): Promise<string[]> {
    const rows: { algorithm: string }[] = await this.db.knex("e2e_fallback_keys")
      .where({ user_id: userId, device_id: deviceId, used: false })
      .select("algorithm");
    return rows.map((r) => r.algorithm).sort();
  }

  /**
   * Take one key of `algorithm` for a device: a one-time key, removed as it
   * is handed out so no two sessions share it; failing that the fallback
   * key, marked used but kept.
   */
  claim(userId: string, deviceId: string, algorithm: string): Promise<UploadedKey | undefined> {
    return this.counts.around(pairKey(userId, deviceId), () => this.take(userId, deviceId, algorithm));
  }

  private async take(userId: string, deviceId: string, algorithm: string): Promise<UploadedKey | undefined> {
    // Two claims racing for the same row: the loser deletes nothing and tries the next key.
    for (let attempt = 0; attempt < 5; attempt++) {
      const candidate = await this.db.knex("e2e_one_time_keys")
        .where({ user_id: userId, device_id: deviceId, algorithm })
        .orderBy("key_id")
        .first("key_id", "key_json");
      if (!candidate) break;
      const deleted = await this.db.knex("e2e_one_time_keys")
        .where({ user_id: userId, device_id: deviceId, algorithm, key_id: candidate.key_id })
        .del();
      if (deleted === 1) return { id: `${algorithm}:${candidate.key_id}`, key: JSON.parse(candidate.key_json) };
    }
    const fallback = await this.db.knex("e2e_fallback_keys").where({ user_id: userId, device_id: deviceId, algorithm }).first("key_id", "key_json");
    if (!fallback) return undefined;
    await this.db.knex("e2e_fallback_keys").where({ user_id: userId, device_id: deviceId, algorithm }).update({ used: true });
    return { id: `${algorithm}:${fallback.key_id}`, key: JSON.parse(fallback.key_json) };
  }

  /** Everything held for these devices: their keys die with them. */
  async deleteDevices(trx: Knex, userId: string, deviceIds: readonly string[]): Promise<void> {
    if (deviceIds.length === 0) return;
    // A device id logged in again starts with no keys; its upload (after this commit) invalidates once more.
    for (const d of deviceIds) this.countsChanged(userId, d);
    for (const table of ["e2e_device_keys", "e2e_one_time_keys", "e2e_fallback_keys"]) {
      await trx(table).where({ user_id: userId }).whereIn("device_id", deviceIds).del();
    }
    await trx("e2e_signatures").where({ target_user_id: userId }).whereIn("target_key_id", deviceIds).del();
  }

  async crossSigningKeys(userIds: readonly string[]): Promise<Map<string, Map<CrossSigningUsage, JsonObject>>> {
    const out = new Map<string, Map<CrossSigningUsage, JsonObject>>();
    for (let i = 0; i < userIds.length; i += 500) {
      const rows: { user_id: string; usage: CrossSigningUsage; key_json: string }[] = await this.db.knex("e2e_cross_signing_keys")
        .whereIn("user_id", userIds.slice(i, i + 500))
        .select("user_id", "usage", "key_json");
      for (const r of rows) {
        let keys = out.get(r.user_id);
        if (!keys) out.set(r.user_id, (keys = new Map()));
        keys.set(r.usage, JSON.parse(r.key_json));
      }
    }
    return out;
  }

  async putCrossSigningKey(trx: Knex, userId: string, usage: CrossSigningUsage, key: JsonObject): Promise<void> {
    await trx("e2e_cross_signing_keys")
      .insert({ user_id: userId, usage, key_json: JSON.stringify(key) })
      .onConflict(["user_id", "usage"])
      .merge(["key_json"]);
  }

  /** A new master key makes every signature made with or on the old keys meaningless. */
  async dropSignaturesOnUser(trx: Knex, userId: string): Promise<void> {
    await trx("e2e_signatures").where({ target_user_id: userId }).del();
  }

  async putSignatures(trx: Knex, sigs: readonly Signature[]): Promise<void> {
    for (const s of sigs) {
      await trx("e2e_signatures")
        .insert({
          target_user_id: s.targetUserId, target_key_id: s.targetKeyId, signer_user_id: s.signerUserId,
          signer_key_id: s.signerKeyId, signature: s.signature,
        })
        .onConflict(["target_user_id", "target_key_id", "signer_user_id", "signer_key_id"])
        .merge(["signature"]);
    }
  }

  /**
   * Uploaded signatures on these users' keys that `viewer` may see: those
   * the key's owner made, and those the viewer made (a user's signature on
   * someone else's master key is their private trust decision).
   */
  async signaturesOn(userIds: readonly string[], viewer: string): Promise<Signature[]> {
    const out: Signature[] = [];
    for (let i = 0; i < userIds.length; i += 500) {
      const rows: Record<string, string>[] = await this.db.knex("e2e_signatures")
        .whereIn("target_user_id", userIds.slice(i, i + 500))
        .andWhere((q) => q.whereRaw("signer_user_id = target_user_id").orWhere("signer_user_id", viewer))
        .select("*");
      for (const r of rows) {
        out.push({
          targetUserId: r.target_user_id, targetKeyId: r.target_key_id, signerUserId: r.signer_user_id,
          signerKeyId: r.signer_key_id, signature: r.signature,
        });
      }
    }
    return out;
  }
}
