/**
 * Client-side key material for tests: ed25519 key pairs and the signing
 * of key objects as a client does it (canonical JSON without signatures
 * and unsigned), so tests can upload keys the server must accept or reject.
 */
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { canonicalJson } from "../../src/crypto/canonical-json.js";
import { encodeBase64 } from "../../src/crypto/base64.js";

export interface KeyPair {
  /** Unpadded base64 public key. */
  readonly publicKey: string;
  readonly privateKey: KeyObject;
}

export function keyPair(): KeyPair {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const raw = publicKey.export({ format: "der", type: "spki" }).subarray(12);
  return { publicKey: encodeBase64(new Uint8Array(raw)), privateKey };
}

/** `obj` with `signer`'s signature under `keyId` added. */
export type Signed<T> = T & { signatures: Record<string, Record<string, string>> };

export function signed<T extends Record<string, unknown>>(obj: T, signer: string, keyId: string, pair: KeyPair): Signed<T> {
  const { signatures, unsigned: _u, ...rest } = obj as Record<string, unknown>;
  const sig = encodeBase64(new Uint8Array(sign(null, Buffer.from(canonicalJson(rest)), pair.privateKey)));
  const sigs = (signatures ?? {}) as Record<string, Record<string, string>>;
  return { ...obj, signatures: { ...sigs, [signer]: { ...(sigs[signer] ?? {}), [keyId]: sig } } };
}

/** A device's identity keys, self-signed. */
export function deviceKeys(userId: string, deviceId: string, pair: KeyPair, curve = keyPair()) {
  return signed({
    user_id: userId,
    device_id: deviceId,
    algorithms: ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"],
    keys: { [`ed25519:${deviceId}`]: pair.publicKey, [`curve25519:${deviceId}`]: curve.publicKey },
  }, userId, `ed25519:${deviceId}`, pair);
}

/** Signed curve25519 one-time keys (any 32 bytes stand in for a curve25519 key here). */
export function oneTimeKeys(userId: string, deviceId: string, pair: KeyPair, ids: string[], extra: Record<string, unknown> = {}) {
  const out: Record<string, unknown> = {};
  for (const id of ids) out[`signed_curve25519:${id}`] = signed({ key: keyPair().publicKey, ...extra }, userId, `ed25519:${deviceId}`, pair);
  return out;
}

/** A cross-signing key object for `usage`, signed by `signer` when given. */
export function crossSigningKey(userId: string, usage: string, pair: KeyPair, signer?: KeyPair) {
  const key = { user_id: userId, usage: [usage], keys: { [`ed25519:${pair.publicKey}`]: pair.publicKey } };
  return signer ? signed(key, userId, `ed25519:${signer.publicKey}`, signer) : key;
}
