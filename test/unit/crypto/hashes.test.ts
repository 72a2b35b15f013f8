import { test } from "node:test";
import assert from "node:assert/strict";
import { sha256 } from "../../../src/crypto/hashes.js";
import { encodeBase64 } from "../../../src/crypto/base64.js";

test("sha256: FIPS 180-2 vectors, string input hashed as UTF-8", () => {
  assert.equal(Buffer.from(sha256("abc")).toString("hex"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert.equal(Buffer.from(sha256("")).toString("hex"), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert.deepEqual(sha256("日"), sha256(new Uint8Array(Buffer.from("日", "utf8"))));
  assert.equal(encodeBase64(sha256("")), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU");
});
