/**
 * Server signing keys: ours as /_matrix/key/v2/server publishes them, and
 * other servers' as we fetch, verify and keep them. A remote key is kept
 * with the time until which it may verify; keys stay after that (as old
 * keys) so that events signed long ago still verify.
 */
import { decodeBase64, encodeBase64 } from "../src/crypto/base64.js";
import type { SigningKey } from "../src/crypto/keys.js";
import { signJson, verifySignedJson } from "../src/crypto/signing.js";
import type { Logger } from "../src/logger.js";
import type { JsonObject } from "../src/room/types.js";
import type { Database } from "../src/storage/database.js";
import type { FederationClient } from "./client.js";

interface KnownKey {
  readonly key: Uint8Array;
  readonly validUntil: number;
}

/** A failed fetch is not retried for this long (a server that is down is not asked on every request). */
const FETCH_BACKOFF_MS = 60_000;

export class KeyRing {
  private readonly known = new Map<string, KnownKey>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly lastFailure = new Map<string, number>();

  constructor(
    private readonly serverName: string,
    private readonly ownKey: SigningKey,
    private readonly validityMs: number,
    private readonly db: Database,
    private readonly client: FederationClient,
    private readonly log: Logger,
  ) {}

  /** Our /_matrix/key/v2/server answer, signed by the key it publishes. */
  ownKeys(now = Date.now()): JsonObject {
    return signJson({
      server_name: this.serverName,
      valid_until_ts: now + this.validityMs,
      verify_keys: { [this.ownKey.keyId]: { key: encodeBase64(this.ownKey.publicKey) } },
      old_verify_keys: {},
    }, this.serverName, this.ownKey) as JsonObject;
  }

  /**
   * A server's key by id, valid at `atTs` (now for requests; an event's
   * origin_server_ts for events), fetched from the server if we do not
   * hold it; undefined when it cannot be had.
   */
  async verifyKey(serverName: string, keyId: string, atTs = Date.now()): Promise<Uint8Array | undefined> {
    if (serverName === this.serverName) return keyId === this.ownKey.keyId ? this.ownKey.publicKey : undefined;
    const id = `${serverName}\0${keyId}`;
    let k = this.known.get(id) ?? (await this.fromDatabase(serverName, keyId));
    if (k && k.validUntil >= atTs) return k.key;
    await this.fetch(serverName);
    k = this.known.get(id);
    // A key whose validity has lapsed still verifies what it signed while it was valid (atTs before its end).
    return k && k.validUntil >= atTs ? k.key : undefined;
  }

  private async fromDatabase(serverName: string, keyId: string): Promise<KnownKey | undefined> {
    const row = await this.db.knex("server_keys").where({ server_name: serverName, key_id: keyId }).first("verify_key", "valid_until_ts");
    if (!row) return undefined;
    const k = { key: decodeBase64(row.verify_key), validUntil: Number(row.valid_until_ts) };
    this.known.set(`${serverName}\0${keyId}`, k);
    return k;
  }

  /** Fetch a server's keys from the server itself, once at a time per server. */
  private fetch(serverName: string): Promise<void> {
    const failed = this.lastFailure.get(serverName);
    if (failed && Date.now() - failed < FETCH_BACKOFF_MS) return Promise.resolve();
    let p = this.inFlight.get(serverName);
    if (!p) {
      p = this.fetchNow(serverName)
        .catch((err) => {
          this.lastFailure.set(serverName, Date.now());
          this.log.warn("could not fetch server keys", { server: serverName, err: String(err) });
        })
        .finally(() => this.inFlight.delete(serverName));
      this.inFlight.set(serverName, p);
    }
    return p;
  }

  private async fetchNow(serverName: string): Promise<void> {
    const answer = await this.client.request<JsonObject>(serverName, "GET", "/_matrix/key/v2/server", { unsigned: true });
    await this.store(serverName, answer);
  }

  /** Check a key response (for this server, signed by each key it lists) and keep its keys. */
  async store(serverName: string, answer: JsonObject): Promise<void> {
    if (answer.server_name !== serverName) throw new Error(`key response is for ${String(answer.server_name)}`);
    const validUntil = Number(answer.valid_until_ts);
    if (!Number.isFinite(validUntil)) throw new Error("key response has no valid_until_ts");
    const rows: Array<{ server_name: string; key_id: string; verify_key: string; valid_until_ts: number; fetched_ts: number }> = [];
    const now = Date.now();
    const verify = (answer.verify_keys ?? {}) as Record<string, { key?: unknown }>;
    for (const [keyId, v] of Object.entries(verify)) {
      if (typeof v?.key !== "string") continue;
      const key = decodeBase64(v.key);
      // Each current key must have signed the response: that proves the server holds it.
      if (!verifySignedJson(answer, serverName, keyId, key)) throw new Error(`key response not signed by ${keyId}`);
      rows.push({ server_name: serverName, key_id: keyId, verify_key: v.key, valid_until_ts: validUntil, fetched_ts: now });
    }
    const old = (answer.old_verify_keys ?? {}) as Record<string, { key?: unknown; expired_ts?: unknown }>;
    for (const [keyId, v] of Object.entries(old)) {
      if (typeof v?.key !== "string" || typeof v.expired_ts !== "number") continue;
      rows.push({ server_name: serverName, key_id: keyId, verify_key: v.key, valid_until_ts: v.expired_ts, fetched_ts: now });
    }
    if (rows.length === 0) throw new Error("key response has no keys");
    await this.db.knex("server_keys").insert(rows).onConflict(["server_name", "key_id"]).merge(["verify_key", "valid_until_ts", "fetched_ts"]);
    for (const r of rows) this.known.set(`${r.server_name}\0${r.key_id}`, { key: decodeBase64(r.verify_key), validUntil: r.valid_until_ts });
    this.lastFailure.delete(serverName);
  }

  /** What we hold for a server, as a notary (/_matrix/key/v2/query) republishes it. */
  async heldKeys(serverName: string): Promise<JsonObject | undefined> {
    if (serverName === this.serverName) return this.ownKeys();
    await this.fetch(serverName);
    const rows: { key_id: string; verify_key: string; valid_until_ts: number | string }[] = await this.db.knex("server_keys")
      .where({ server_name: serverName })
      .select("key_id", "verify_key", "valid_until_ts");
    if (rows.length === 0) return undefined;
    const now = Date.now();
    const verify_keys: JsonObject = {};
    const old_verify_keys: JsonObject = {};
    let validUntil = 0;
    for (const r of rows) {
      const until = Number(r.valid_until_ts);
      if (until >= now) {
        verify_keys[r.key_id] = { key: r.verify_key };
        validUntil = Math.max(validUntil, until);
      } else {
        old_verify_keys[r.key_id] = { key: r.verify_key, expired_ts: until };
      }
    }
    // A notary signs what it republishes; the origin's own signature cannot be kept (the object changed).
    return signJson({ server_name: serverName, valid_until_ts: validUntil || now, verify_keys, old_verify_keys }, this.serverName, this.ownKey) as JsonObject;
  }
}
