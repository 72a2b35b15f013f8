/**
 * The shape and signatures of the key objects clients upload: device
 * keys, one-time and fallback keys, cross-signing keys. Pure: each check
 * returns what it learned (a public key) or throws the Matrix error the
 * client gets, before anything is stored.
 */
import { decodeBase64 } from "../crypto/base64.js";
import { verifySignedJson } from "../crypto/signing.js";
import { MatrixError } from "../http/errors.js";
import type { JsonObject } from "../room/types.js";
import type { CrossSigningUsage, UploadedKey } from "../storage/e2e-key-store.js";

const invalid = (msg: string) => new MatrixError(400, "M_INVALID_PARAM", msg);
// A required field missing or of the wrong type: the body is not the JSON asked for.
const badShape = (msg: string) => new MatrixError(400, "M_BAD_JSON", msg);
const badSignature = (msg: string) => new MatrixError(400, "M_INVALID_SIGNATURE", msg);

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** An unpadded-base64 ed25519 public key, as bytes; undefined when it is not one. */
export function ed25519PublicKey(b64: unknown): Uint8Array | undefined {
  if (typeof b64 !== "string") return undefined;
  try {
    const bytes = decodeBase64(b64);
    return bytes.length === 32 ? bytes : undefined;
  } catch {
    return undefined;
  }
}

function hasSignature(obj: JsonObject, signer: string, keyId: string): boolean {
  const sigs = obj.signatures;
  return isObject(sigs) && isObject(sigs[signer]) && (sigs[signer] as JsonObject)[keyId] !== undefined;
}

/**
 * A device's identity keys: for this user and device, with its ed25519
 * and curve25519 keys, self-signed with that ed25519 key if signed at all. Returns the
 * ed25519 key (base64), which signs the device's one-time keys.
 */
export function checkDeviceKeys(keys: unknown, userId: string, deviceId: string): string {
  if (!isObject(keys)) throw invalid("device_keys must be an object");
  if (keys.user_id !== userId) throw invalid("device_keys.user_id does not match the access token");
  if (keys.device_id !== deviceId) throw invalid("device_keys.device_id does not match the access token");
  if (!Array.isArray(keys.algorithms) || !keys.algorithms.every((a) => typeof a === "string")) {
    throw badShape("device_keys.algorithms must be a list of strings");
  }
  if (!isObject(keys.keys)) throw badShape("device_keys.keys must be an object");
  for (const [id, value] of Object.entries(keys.keys)) {
    if (typeof value !== "string" || !id.includes(":")) throw invalid(`device_keys.keys.${id} must be a string under algorithm:device_id`);
  }
  const ed25519 = keys.keys[`ed25519:${deviceId}`];
  const publicKey = ed25519PublicKey(ed25519);
  if (!publicKey) throw invalid(`device_keys.keys needs ed25519:${deviceId}`);
  // A self-signature that is there must verify; one left out is the receiving clients' to miss (they check it themselves), as other servers accept.
  if (hasSignature(keys, userId, `ed25519:${deviceId}`) && !verifySignedJson(keys, userId, `ed25519:${deviceId}`, publicKey)) {
    throw badSignature("device_keys is not signed by its own ed25519 key");
  }
  return ed25519 as string;
}

/**
 * One-time or fallback keys: `algorithm:key_id` to a key string, or to a
 * signed key object, which must carry the device's signature.
 */
export function checkOneTimeKeys(keys: unknown, field: string, userId: string, deviceId: string, deviceEd25519: string | undefined): UploadedKey[] {
  if (keys === undefined || keys === null) return [];
  if (!isObject(keys)) throw invalid(`${field} must be an object`);
  const publicKey = deviceEd25519 === undefined ? undefined : ed25519PublicKey(deviceEd25519);
  const out: UploadedKey[] = [];
  for (const [id, key] of Object.entries(keys)) {
    const colon = id.indexOf(":");
    if (colon <= 0 || colon === id.length - 1 || id.length > 255) throw invalid(`${field}: key id ${JSON.stringify(id)} is not algorithm:key_id`);
    if (typeof key === "string") {
      out.push({ id, key: key as unknown as JsonObject });
      continue;
    }
    if (!isObject(key) || typeof key.key !== "string") throw invalid(`${field}.${id} must be a key string or an object with a key`);
    if (publicKey && hasSignature(key, userId, `ed25519:${deviceId}`) && !verifySignedJson(key, userId, `ed25519:${deviceId}`, publicKey)) {
      throw badSignature(`${field}.${id} is not signed by the device`);
    }
    out.push({ id, key });
  }
  return out;
}

/**
 * A cross-signing key: this user's, for this usage, holding exactly one
 * ed25519 key whose id names the public key. Returns the public key.
 */
export function checkCrossSigningKey(key: unknown, userId: string, usage: CrossSigningUsage): string {
  if (!isObject(key)) throw invalid(`${usage} key must be an object`);
  if (key.user_id !== userId) throw invalid(`${usage} key is for another user`);
  if (!Array.isArray(key.usage) || !key.usage.includes(usage)) throw invalid(`${usage} key must list usage ${usage}`);
  if (!isObject(key.keys)) throw invalid(`${usage} key needs keys`);
  const entries = Object.entries(key.keys);
  if (entries.length !== 1) throw invalid(`${usage} key must hold exactly one key`);
  const [id, value] = entries[0];
  if (!id.startsWith("ed25519:") || id.slice("ed25519:".length) !== value || !ed25519PublicKey(value)) {
    throw invalid(`${usage} key must be ed25519:<public key> -> <public key>`);
  }
  return value as string;
}

/** Whether `obj` carries `signer`'s signature with the ed25519 key `publicKey` (base64). */
export function signedBy(obj: JsonObject, signer: string, publicKey: string): boolean {
  const bytes = ed25519PublicKey(publicKey);
  return bytes !== undefined && verifySignedJson(obj, signer, `ed25519:${publicKey}`, bytes);
}

/** The public key of a checked cross-signing key object. */
export function crossSigningPublicKey(key: JsonObject): string {
  return Object.values(key.keys as Record<string, string>)[0];
}

/** `obj` without `signatures` and `unsigned`: what a signature covers, for comparing two copies. */
export function signedPart(obj: JsonObject): JsonObject {
  const { signatures: _s, unsigned: _u, ...rest } = obj;
  return rest;
}
