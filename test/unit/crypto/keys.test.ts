import { test } from "node:test";
import assert from "node:assert/strict";
import nacl from "tweetnacl";
import { decodeBase64, encodeBase64 } from "../../../src/crypto/base64.js";
import { formatSigningKeyFile, generateSigningKey, parseSigningKeyFile, signingKeyFromSeed } from "../../../src/crypto/keys.js";

const SPEC_SEED = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1";

test("signingKeyFromSeed derives the same public key as tweetnacl (an independent ed25519)", () => {
  const seed = decodeBase64(SPEC_SEED);
  const key = signingKeyFromSeed("ed25519:1", seed);
  assert.deepEqual(key.publicKey, nacl.sign.keyPair.fromSeed(seed).publicKey);
  assert.equal(encodeBase64(key.publicKey), "XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI");
  assert.equal(key.keyId, "ed25519:1");
});

test("signingKeyFromSeed refuses bad seeds and key ids", () => {
  assert.throws(() => signingKeyFromSeed("ed25519:1", new Uint8Array(31)));
  assert.throws(() => signingKeyFromSeed("curve25519:1", new Uint8Array(32)));
  assert.throws(() => signingKeyFromSeed("ed25519:a-b", new Uint8Array(32)));
  assert.throws(() => signingKeyFromSeed("ed25519:", new Uint8Array(32)));
});

test("generateSigningKey: a fresh random key with an a_XXXX version, or the version asked for", () => {
  const a = generateSigningKey();
  const b = generateSigningKey();
  assert.match(a.keyId, /^ed25519:a_[A-Za-z0-9]{4}$/);
  assert.notDeepEqual(a.seed, b.seed);
  assert.equal(a.seed.length, 32);
  assert.deepEqual(a.publicKey, nacl.sign.keyPair.fromSeed(a.seed).publicKey);
  assert.equal(generateSigningKey("auto_1").keyId, "ed25519:auto_1");
  assert.throws(() => generateSigningKey("no spaces"));
});

test("key file: the one-line 'ed25519 <version> <unpadded base64 seed>' format, both ways", () => {
  const key = signingKeyFromSeed("ed25519:a_abcd", decodeBase64(SPEC_SEED));
  const text = formatSigningKeyFile(key);
  assert.equal(text, "ed25519 a_abcd YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA0\n");
  const [back, ...rest] = parseSigningKeyFile(text);
  assert.equal(rest.length, 0);
  assert.equal(back.keyId, "ed25519:a_abcd");
  assert.deepEqual(back.seed, key.seed);
  assert.deepEqual(back.publicKey, key.publicKey);
});

test("key file: several keys, blank lines, comments, padding and CRLF are read", () => {
  const keys = parseSigningKeyFile(`# old and new\r\ned25519 old ${SPEC_SEED}\r\n\r\ned25519 new ${encodeBase64(new Uint8Array(32).fill(7))}=\n`);
  assert.deepEqual(keys.map((k) => k.keyId), ["ed25519:old", "ed25519:new"]);
  assert.deepEqual(keys[1].seed, new Uint8Array(32).fill(7));
});

test("key file: unreadable lines are errors, not skipped", () => {
  assert.throws(() => parseSigningKeyFile("ed25519 a_abcd\n"));
  assert.throws(() => parseSigningKeyFile("rsa a_abcd " + SPEC_SEED));
  assert.throws(() => parseSigningKeyFile("ed25519 a_abcd !!!!"));
  assert.throws(() => parseSigningKeyFile("ed25519 a_abcd Zm9v"));
});
