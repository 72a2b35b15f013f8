import { test } from "node:test";
import assert from "node:assert/strict";
import nacl from "tweetnacl";
import { decodeBase64, encodeBase64 } from "../../../src/crypto/base64.js";
import { canonicalJson } from "../../../src/crypto/canonical-json.js";
import { signingKeyFromSeed } from "../../../src/crypto/keys.js";
import type { Signatures } from "../../../src/room/types.js";
import { ed25519Sign, ed25519Verify, signJson, verifySignedJson } from "../../../src/crypto/signing.js";

// appendices.md, "Cryptographic Test Vectors": SIGNING_KEY_SEED, SERVER_NAME "domain", KEY_ID "ed25519:1".
const sigsOf = (o: object) => (o as { signatures: Signatures }).signatures;

const KEY = signingKeyFromSeed("ed25519:1", decodeBase64("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"));

test("JSON signing test vector: the empty object", () => {
  assert.deepEqual(signJson({}, "domain", KEY), {
    signatures: {
      domain: {
        "ed25519:1": "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ",
      },
    },
  });
});

test("JSON signing test vector: an object with data values", () => {
  assert.deepEqual(signJson({ one: 1, two: "Two" }, "domain", KEY), {
    one: 1,
    signatures: {
      domain: {
        "ed25519:1": "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw",
      },
    },
    two: "Two",
  });
});

test("the test vectors verify, with our code and with tweetnacl", () => {
  const signed = signJson({ one: 1, two: "Two" }, "domain", KEY);
  assert.equal(verifySignedJson(signed, "domain", "ed25519:1", KEY.publicKey), true);
  const sig = decodeBase64(sigsOf(signed).domain["ed25519:1"]);
  assert.equal(nacl.sign.detached.verify(Buffer.from('{"one":1,"two":"Two"}'), sig, KEY.publicKey), true);
});

test("the 'Signing Details' example (example.org) is illustrative: its signature does not verify", () => {
  // Its key and signature are not a test vector: neither this code nor
  // tweetnacl verifies it over the object's canonical form, so the suite
  // pins that rather than leaning on it.
  const example = {
    name: "example.org",
    signing_keys: { "ed25519:1": "XSl0kuyvrXNj6A+7/tkrB9sxSbRi08Of5uRhxOqZtEQ" },
    unsigned: { age_ts: 922834800000 },
    signatures: {
      "example.org": {
        "ed25519:1": "s76RUgajp8w172am0zQb/iPTHsRnb4SkrzGoeCOSFfcBY2V/1c8QfrmdXHpvnc2jK5BD1WiJIxiMW95fMjK7Bw",
      },
    },
  };
  const pk = decodeBase64("XSl0kuyvrXNj6A+7/tkrB9sxSbRi08Of5uRhxOqZtEQ");
  assert.equal(verifySignedJson(example, "example.org", "ed25519:1", pk), false);
  const sig = decodeBase64(example.signatures["example.org"]["ed25519:1"]);
  const { signatures: _s, unsigned: _u, ...rest } = example;
  assert.equal(nacl.sign.detached.verify(Buffer.from(canonicalJson(rest)), sig, pk), false);
});

test("signJson: unsigned and signatures are outside the signed bytes; unsigned is kept; input untouched", () => {
  const input = { a: 1, unsigned: { age: 5 }, signatures: { other: { "ed25519:x": "abc" } } };
  const signed = signJson(input, "domain", KEY);
  assert.deepEqual(signed.unsigned, { age: 5 });
  assert.equal(signed.signatures.other["ed25519:x"], "abc");
  assert.deepEqual(input.signatures, { other: { "ed25519:x": "abc" } });
  const expected = encodeBase64(nacl.sign.detached(Buffer.from('{"a":1}'), nacl.sign.keyPair.fromSeed(KEY.seed).secretKey));
  assert.equal(sigsOf(signed).domain["ed25519:1"], expected);
  // Changing unsigned or adding signatures later does not break the signature.
  const moved = { ...signed, unsigned: { age: 999 }, signatures: { ...sigsOf(signed), third: { "ed25519:y": "zzz" } } };
  assert.equal(verifySignedJson(moved, "domain", "ed25519:1", KEY.publicKey), true);
});

test("signJson: a second key of the same entity adds to, not replaces, the first", () => {
  const other = signingKeyFromSeed("ed25519:2", new Uint8Array(32).fill(1));
  const twice = signJson(signJson({ a: 1 }, "domain", KEY), "domain", other);
  assert.deepEqual(Object.keys(sigsOf(twice).domain).sort(), ["ed25519:1", "ed25519:2"]);
  assert.equal(verifySignedJson(twice, "domain", "ed25519:1", KEY.publicKey), true);
  assert.equal(verifySignedJson(twice, "domain", "ed25519:2", other.publicKey), true);
});

test("verifySignedJson: each failing step of 'Checking for a Signature' fails", () => {
  const signed = signJson({ one: 1, two: "Two" }, "domain", KEY);
  assert.equal(verifySignedJson({ ...signed, one: 2 }, "domain", "ed25519:1", KEY.publicKey), false, "tampered");
  assert.equal(verifySignedJson(signed, "elsewhere", "ed25519:1", KEY.publicKey), false, "no entry for the entity");
  assert.equal(verifySignedJson(signed, "domain", "ed25519:2", KEY.publicKey), false, "no such key id");
  assert.equal(verifySignedJson({ one: 1 }, "domain", "ed25519:1", KEY.publicKey), false, "no signatures");
  const wrongKey = signingKeyFromSeed("ed25519:1", new Uint8Array(32).fill(2)).publicKey;
  assert.equal(verifySignedJson(signed, "domain", "ed25519:1", wrongKey), false, "other key");
  const badB64 = { ...signed, signatures: { domain: { "ed25519:1": "!!not base64!!" } } };
  assert.equal(verifySignedJson(badB64, "domain", "ed25519:1", KEY.publicKey), false, "undecodable signature");
  const floaty = { ...signed, x: 1.5 };
  assert.equal(verifySignedJson(floaty, "domain", "ed25519:1", KEY.publicKey), false, "not canonicalisable");
});

test("verifySignedJson accepts padded and URL-safe signatures (decoders SHOULD accept padding)", () => {
  const signed = signJson({ one: 1, two: "Two" }, "domain", KEY);
  const sig = sigsOf(signed).domain["ed25519:1"];
  const padded = { ...signed, signatures: { domain: { "ed25519:1": sig + "==" } } };
  assert.equal(verifySignedJson(padded, "domain", "ed25519:1", KEY.publicKey), true);
});

test("ed25519Sign/Verify agree with tweetnacl both ways; bad lengths are false, not exceptions", () => {
  const msg = new Uint8Array(Buffer.from("hello"));
  const ours = ed25519Sign(msg, KEY);
  const pair = nacl.sign.keyPair.fromSeed(KEY.seed);
  assert.deepEqual(ours, nacl.sign.detached(msg, pair.secretKey));
  assert.equal(ed25519Verify(msg, nacl.sign.detached(msg, pair.secretKey), KEY.publicKey), true);
  assert.equal(ed25519Verify(new Uint8Array(Buffer.from("hellp")), ours, KEY.publicKey), false);
  assert.equal(ed25519Verify(msg, ours.subarray(0, 63), KEY.publicKey), false);
  assert.equal(ed25519Verify(msg, ours, KEY.publicKey.subarray(0, 31)), false);
  // Verify many times with the same key (the cached KeyObject path).
  for (let i = 0; i < 5; i++) assert.equal(ed25519Verify(msg, ours, KEY.publicKey), true);
});
