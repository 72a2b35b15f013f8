/**
 * The key directory: uploads of device, one-time, fallback and
 * cross-signing keys and signatures, and the queries and claims other
 * users' clients make. Both API surfaces use it: the Client-Server API for
 * local users, federation for remote servers asking about local users.
 */
import type { ServerContext } from "../context.js";
import { MatrixError } from "../http/errors.js";
import { isValidUserId, serverNameOf } from "../room/identifiers.js";
import type { JsonObject } from "../room/types.js";
import type { CrossSigningUsage, E2eKeyStore, Signature } from "../storage/e2e-key-store.js";
import { inTransaction } from "../storage/tx.js";
import { canonicalJson } from "../crypto/canonical-json.js";
import { verifySignedJson } from "../crypto/signing.js";
import {
  checkCrossSigningKey, checkDeviceKeys, checkOneTimeKeys, crossSigningPublicKey, ed25519PublicKey, signedBy, signedPart,
} from "./key-objects.js";

const USAGES: readonly CrossSigningUsage[] = ["master", "self_signing", "user_signing"];
const QUERY_FIELD: Record<CrossSigningUsage, string> = {
  master: "master_keys",
  self_signing: "self_signing_keys",
  user_signing: "user_signing_keys",
};

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const sameJson = (a: JsonObject, b: JsonObject) => canonicalJson(signedPart(a)) === canonicalJson(signedPart(b));

export class KeyDirectory {
  private readonly store: E2eKeyStore;

  constructor(private readonly hs: ServerContext) {
    this.store = hs.e2eKeys;
  }

  /** /keys/upload: everything checked first, then stored in one transaction. Returns the one-time key counts. */
  async upload(userId: string, deviceId: string, body: JsonObject): Promise<Record<string, number>> {
    let ed25519: string | undefined;
    const existing = await this.store.deviceKeys(userId, deviceId);
    let newDeviceKeys: JsonObject | undefined;
    if (body.device_keys !== undefined && body.device_keys !== null) {
      ed25519 = checkDeviceKeys(body.device_keys, userId, deviceId);
      const given = body.device_keys as JsonObject;
      if (!existing || !sameJson(existing, given) || canonicalJson(existing.signatures ?? {}) !== canonicalJson(given.signatures ?? {})) {
        newDeviceKeys = given;
      }
    } else if (existing) {
      ed25519 = (existing.keys as Record<string, string> | undefined)?.[`ed25519:${deviceId}`];
    }
    const oneTime = checkOneTimeKeys(body.one_time_keys, "one_time_keys", userId, deviceId, ed25519);
    const fallback = checkOneTimeKeys(body.fallback_keys, "fallback_keys", userId, deviceId, ed25519);
    // A key id already used for a different key is a client bug; the same key again is a retry.
    const held = await this.store.existingOneTimeKeys(userId, deviceId, oneTime.map((k) => k.id));
    for (const k of oneTime) {
      const old = held.get(k.id);
      if (old !== undefined && old !== JSON.stringify(k.key)) {
        throw new MatrixError(400, "M_INVALID_PARAM", `One-time key ${k.id} already exists with a different value`);
      }
    }
    const fresh = oneTime.filter((k) => !held.has(k.id));
    if (newDeviceKeys || fresh.length || fallback.length) {
      await inTransaction(this.hs.db, async (tx) => {
        if (newDeviceKeys) {
          await this.store.putDeviceKeys(tx.trx, userId, deviceId, newDeviceKeys);
          await this.hs.deviceLists.recordIn(tx, userId);
        }
        await this.store.addOneTimeKeys(tx.trx, userId, deviceId, fresh);
        await this.store.putFallbackKeys(tx.trx, userId, deviceId, fallback);
      });
      this.store.countsChanged(userId, deviceId);
    }
    return (await this.store.keyCounts(userId, deviceId)).oneTime;
  }

  /**
   * /keys/query for local users: device keys (with the device's display
   * name) and cross-signing keys, with the signatures the asker may see.
   * `asker` is null for a remote server, which sees owners' signatures only.
   */
  async query(asker: string | null, request: ReadonlyMap<string, readonly string[]>): Promise<JsonObject> {
    const local = new Map([...request].filter(([u]) => serverNameOf(u) === this.hs.config.server_name));
    const userIds = [...local.keys()];
    const [deviceKeys, crossSigning, signatures] = await Promise.all([
      this.store.deviceKeysOf(local),
      this.store.crossSigningKeys(userIds),
      this.store.signaturesOn(userIds, asker ?? ""),
    ]);
    const names = await this.deviceNames(userIds);
    const extraSigs = new Map<string, Signature[]>();
    for (const s of signatures) {
      const k = `${s.targetUserId}\0${s.targetKeyId}`;
      extraSigs.set(k, [...(extraSigs.get(k) ?? []), s]);
    }
    const withSignatures = (obj: JsonObject, userId: string, keyId: string): JsonObject => {
      const extra = extraSigs.get(`${userId}\0${keyId}`);
      if (!extra) return obj;
      const sigs = { ...((obj.signatures ?? {}) as Record<string, Record<string, string>>) };
      for (const s of extra) sigs[s.signerUserId] = { ...(sigs[s.signerUserId] ?? {}), [s.signerKeyId]: s.signature };
      return { ...obj, signatures: sigs };
    };

    const device_keys: Record<string, Record<string, JsonObject>> = {};
    for (const userId of userIds) {
      device_keys[userId] = {};
      for (const [deviceId, keys] of deviceKeys.get(userId) ?? []) {
        const name = names.get(`${userId}\0${deviceId}`);
        const unsigned = { ...((keys.unsigned ?? {}) as JsonObject), ...(name ? { device_display_name: name } : {}) };
        device_keys[userId][deviceId] = { ...withSignatures(keys, userId, deviceId), unsigned };
      }
    }
    const out: JsonObject = { device_keys, failures: {} };
    for (const usage of USAGES) out[QUERY_FIELD[usage]] = {};
    for (const [userId, keys] of crossSigning) {
      for (const [usage, key] of keys) {
        // A user-signing key is only for its owner's eyes.
        if (usage === "user_signing" && asker !== userId) continue;
        (out[QUERY_FIELD[usage]] as JsonObject)[userId] = withSignatures(key, userId, crossSigningPublicKey(key));
      }
    }
    return out;
  }

  private async deviceNames(userIds: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (let i = 0; i < userIds.length; i += 500) {
      const rows: { user_id: string; device_id: string; display_name: string | null }[] = await this.hs.db.knex("devices")
        .whereIn("user_id", userIds.slice(i, i + 500))
        .whereNotNull("display_name")
        .select("user_id", "device_id", "display_name");
      for (const r of rows) if (r.display_name) out.set(`${r.user_id}\0${r.device_id}`, r.display_name);
    }
    return out;
  }

  /** /keys/claim for local devices: a one-time key each, else the fallback key; devices without either are left out. */
  async claim(request: ReadonlyMap<string, ReadonlyMap<string, string>>): Promise<Record<string, Record<string, JsonObject>>> {
    const out: Record<string, Record<string, JsonObject>> = {};
    for (const [userId, devices] of request) {
      if (serverNameOf(userId) !== this.hs.config.server_name) continue;
      for (const [deviceId, algorithm] of devices) {
        const key = await this.store.claim(userId, deviceId, algorithm);
        if (!key) continue;
        ((out[userId] ??= {})[deviceId] ??= {})[key.id] = key.key;
      }
    }
    return out;
  }

  /**
   * Whether a cross-signing upload changes anything. Uploading exactly the
   * keys already held needs no authentication (the spec makes it
   * idempotent), and neither does the very first master key.
   */
  async crossSigningUploadNeedsAuth(userId: string, body: JsonObject): Promise<boolean> {
    const held = (await this.store.crossSigningKeys([userId])).get(userId);
    if (!held?.has("master")) return false;
    for (const usage of USAGES) {
      const given = body[`${usage}_key`];
      if (given === undefined) continue;
      const old = held.get(usage);
      if (!old || !isObject(given) || canonicalJson(old) !== canonicalJson(given)) return true;
    }
    return false;
  }

  /** /keys/device_signing/upload, after authentication. */
  async uploadCrossSigning(userId: string, body: JsonObject): Promise<void> {
    const held = (await this.store.crossSigningKeys([userId])).get(userId) ?? new Map<CrossSigningUsage, JsonObject>();
    const given = new Map<CrossSigningUsage, JsonObject>();
    for (const usage of USAGES) {
      const k = body[`${usage}_key`];
      if (k === undefined || k === null) continue;
      checkCrossSigningKey(k, userId, usage);
      given.set(usage, k as JsonObject);
    }
    const master = given.get("master") ?? held.get("master");
    if (!master) throw new MatrixError(400, "M_MISSING_PARAM", "No master signing key is available");
    const masterPub = crossSigningPublicKey(master);
    // The subkeys must be signed by the master key in force after this upload.
    for (const usage of ["self_signing", "user_signing"] as const) {
      const sub = given.get(usage) ?? (given.has("master") ? undefined : held.get(usage));
      if (sub && !signedBy(sub, userId, masterPub)) {
        throw new MatrixError(400, "M_INVALID_SIGNATURE", `The ${usage} key is not signed by the master key`);
      }
    }
    const devices = await this.hs.accounts.devices(userId);
    for (const key of given.values()) {
      if (devices.some((d) => d.deviceId === crossSigningPublicKey(key))) throw new MatrixError(403, "M_FORBIDDEN", "Key ID in use");
    }
    if (given.size === 0) return;
    await inTransaction(this.hs.db, async (tx) => {
      if (given.has("master") && held.get("master") && crossSigningPublicKey(held.get("master")!) !== masterPub) {
        await this.store.dropSignaturesOnUser(tx.trx, userId);
      }
      for (const [usage, key] of given) await this.store.putCrossSigningKey(tx.trx, userId, usage, key);
      await this.hs.deviceLists.recordIn(tx, userId);
    });
  }

  /**
   * /keys/signatures/upload: each signed object must be the key as stored
   * (bar its signatures), and each new signature must verify with the key
   * allowed to make it: the self-signing key on the user's devices, a device
   * or the master key on the master key, the user-signing key on other
   * users' master keys. Returns the failures; the valid ones are stored.
   */
  async uploadSignatures(userId: string, body: JsonObject): Promise<Record<string, Record<string, JsonObject>>> {
    const failures: Record<string, Record<string, JsonObject>> = {};
    const fail = (u: string, k: string, errcode: string, error: string) => void ((failures[u] ??= {})[k] = { errcode, error });
    const targets = Object.keys(body).filter((u) => isValidUserId(u));
    for (const u of Object.keys(body)) if (!isValidUserId(u)) fail(u, "", "M_INVALID_PARAM", "Not a user id");
    const crossSigning = await this.store.crossSigningKeys([...new Set([userId, ...targets])]);
    const mine = crossSigning.get(userId);
    const selfSigning = mine?.get("self_signing");
    const userSigning = mine?.get("user_signing");
    const myMaster = mine?.get("master");
    const accepted: Signature[] = [];

    for (const target of targets) {
      const objects = body[target];
      if (!isObject(objects)) {
        fail(target, "", "M_INVALID_PARAM", "Expected a map of key id to signed object");
        continue;
      }
      const targetMaster = crossSigning.get(target)?.get("master");
      for (const [keyId, signed] of Object.entries(objects)) {
        if (!isObject(signed) || !isObject(signed.signatures) || !isObject(signed.signatures[userId])) {
          fail(target, keyId, "M_INVALID_PARAM", "Expected a signed object with the uploader's signatures");
          continue;
        }
        const stored = await this.storedKey(target, keyId, targetMaster);
        if (!stored) {
          fail(target, keyId, "M_NOT_FOUND", "No such key");
          continue;
        }
        if (!sameJson(stored, signed)) {
          fail(target, keyId, "M_INVALID_SIGNATURE", "The signed object does not match the stored key");
          continue;
        }
        const isMasterKey = targetMaster !== undefined && keyId === crossSigningPublicKey(targetMaster);
        for (const [signerKeyId, sig] of Object.entries(signed.signatures[userId] as JsonObject)) {
          if (typeof sig !== "string" || !signerKeyId.startsWith("ed25519:")) continue;
          const signerPub = await this.signingKeyFor(userId, target, isMasterKey, signerKeyId.slice("ed25519:".length), { selfSigning, userSigning, myMaster });
          if (signerPub === undefined) {
            // Signatures already on the stored object are not new: skip them quietly.
            if (((stored.signatures as JsonObject | undefined)?.[userId] as JsonObject | undefined)?.[signerKeyId] === sig) continue;
            fail(target, keyId, "M_INVALID_SIGNATURE", `${signerKeyId} may not sign this key`);
            continue;
          }
          const one = { ...signedPart(stored), signatures: { [userId]: { [signerKeyId]: sig } } };
          const pub = ed25519PublicKey(signerPub);
          if (!pub || !verifySignedJson(one, userId, signerKeyId, pub)) {
            fail(target, keyId, "M_INVALID_SIGNATURE", `Invalid signature by ${signerKeyId}`);
            continue;
          }
          accepted.push({ targetUserId: target, targetKeyId: keyId, signerUserId: userId, signerKeyId, signature: sig });
        }
      }
    }
    if (accepted.length) {
      await inTransaction(this.hs.db, async (tx) => {
        await this.store.putSignatures(tx.trx, accepted);
        // Whoever's keys gained a signature: their watchers (and for user-signing, the signer's own devices) re-query.
        for (const u of new Set(accepted.map((s) => s.targetUserId))) await this.hs.deviceLists.recordIn(tx, u);
        if (accepted.some((s) => s.targetUserId !== userId)) await this.hs.deviceLists.recordIn(tx, userId);
      });
    }
    return failures;
  }

  /** The stored key a signature upload names: a device's keys, or a cross-signing key by its public key. */
  private async storedKey(userId: string, keyId: string, master: JsonObject | undefined): Promise<JsonObject | undefined> {
    if (master && crossSigningPublicKey(master) === keyId) return master;
    const own = (await this.store.crossSigningKeys([userId])).get(userId);
    for (const key of own?.values() ?? []) if (crossSigningPublicKey(key) === keyId) return key;
    return this.store.deviceKeys(userId, keyId);
  }

  /**
   * The public key behind `signer`'s key id `name` if that key may sign the
   * target: the self-signing (or master) key on the signer's own devices and
   * keys, one of the signer's devices on their own master key, the
   * user-signing key on someone else's master key.
   */
  private async signingKeyFor(
    signer: string, target: string, targetIsMaster: boolean, name: string,
    mine: { selfSigning?: JsonObject; userSigning?: JsonObject; myMaster?: JsonObject },
  ): Promise<string | undefined> {
    const pubOf = (k: JsonObject | undefined) => (k ? crossSigningPublicKey(k) : undefined);
    if (target !== signer) return targetIsMaster && pubOf(mine.userSigning) === name ? name : undefined;
    if (targetIsMaster) {
      const device = await this.store.deviceKeys(signer, name);
      return (device?.keys as Record<string, string> | undefined)?.[`ed25519:${name}`];
    }
    return pubOf(mine.selfSigning) === name || pubOf(mine.myMaster) === name ? name : undefined;
  }
}
