/**
 * ed25519 signing keys: the server's own key, its id, and the key file.
 *
 * The key file holds one line per key in the format Synapse's signing key
 * files use (`ed25519 <version> <unpadded base64 seed>`), so an operator can
 * move a key between servers.
 */
import { createPrivateKey, createPublicKey, randomBytes, type KeyObject } from "node:crypto";
import { decodeBase64, encodeBase64 } from "./base64.js";

export interface SigningKey {
  /** "ed25519:<version>" */
  readonly keyId: string;
  /** The 32-byte private seed. */
  readonly seed: Uint8Array;
  readonly publicKey: Uint8Array;
}

// DER wrappers that turn raw ed25519 bytes into keys node:crypto accepts (RFC 8410).
const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

export function privateKeyObject(seed: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" });
}

export function publicKeyObject(publicKey: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: "der", type: "spki" });
}

/** Key versions are `[a-zA-Z0-9_]+` (server-server API: server keys). */
const KEY_ID = /^ed25519:[A-Za-z0-9_]+$/;

export function signingKeyFromSeed(keyId: string, seed: Uint8Array): SigningKey {
  if (!KEY_ID.test(keyId)) throw new Error(`invalid ed25519 key id ${keyId}`);
  if (seed.length !== 32) throw new Error("an ed25519 seed is 32 bytes");
  const spki = createPublicKey(privateKeyObject(seed)).export({ format: "der", type: "spki" });
  return { keyId, seed, publicKey: new Uint8Array(spki.subarray(SPKI_PREFIX.length)) };
}

/** A new key; the version is random so that a regenerated key gets a new id. */
export function generateSigningKey(version = "a_" + randomBytes(3).toString("base64url").replace(/[-_]/g, "x")): SigningKey {
  return signingKeyFromSeed(`ed25519:${version}`, new Uint8Array(randomBytes(32)));
}

export function formatSigningKeyFile(key: SigningKey): string {
  const [alg, version] = key.keyId.split(":");
  return `${alg} ${version} ${encodeBase64(key.seed)}\n`;
}

export function parseSigningKeyFile(text: string): SigningKey[] {
  const keys: SigningKey[] = [];
  for (const line of text.split("\n")) {
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith("#")) continue;
    const [alg, version, seed] = trimmed.split(/\s+/);
    if (alg !== "ed25519" || !version || !seed) throw new Error(`unreadable signing key line: ${trimmed.slice(0, 20)}...`);
    keys.push(signingKeyFromSeed(`${alg}:${version}`, decodeBase64(seed)));
  }
  return keys;
}
