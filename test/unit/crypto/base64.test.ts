import { test } from "node:test";
import assert from "node:assert/strict";
import { Base64Error, decodeBase64, encodeBase64, encodeBase64Url } from "../../../src/crypto/base64.js";

const utf8 = (s: string) => new Uint8Array(Buffer.from(s, "utf8"));

test("unpadded base64: the appendix's examples", () => {
  const examples: [string, string][] = [
    ["", ""], ["f", "Zg"], ["fo", "Zm8"], ["foo", "Zm9v"], ["foob", "Zm9vYg"], ["fooba", "Zm9vYmE"], ["foobar", "Zm9vYmFy"],
  ];
  for (const [plain, encoded] of examples) {
    assert.equal(encodeBase64(utf8(plain)), encoded);
    assert.deepEqual(decodeBase64(encoded), utf8(plain));
  }
});

test("standard and URL-safe alphabets differ only in characters 62 and 63", () => {
  const bytes = new Uint8Array([0xfb, 0xff, 0xbf, 0xfe]);
  assert.equal(encodeBase64(bytes), "+/+//g");
  assert.equal(encodeBase64Url(bytes), "-_-__g");
  assert.deepEqual(decodeBase64("+/+//g"), bytes);
  assert.deepEqual(decodeBase64("-_-__g"), bytes);
});

test("encoding respects a view's offset into a larger buffer", () => {
  const big = new Uint8Array([1, 2, 0x66, 0x6f, 0x6f, 9]);
  assert.equal(encodeBase64(big.subarray(2, 5)), "Zm9v");
  assert.equal(encodeBase64Url(big.subarray(2, 5)), "Zm9v");
});

test("decoding accepts padded input (the appendix: SHOULD accept with or without padding)", () => {
  assert.deepEqual(decodeBase64("Zg=="), utf8("f"));
  assert.deepEqual(decodeBase64("Zm8="), utf8("fo"));
  assert.deepEqual(decodeBase64("_w=="), new Uint8Array([0xff]));
});

test("decoding refuses what is not base64 instead of skipping it", () => {
  for (const bad of ["Z", "Zm9vY", "Zg=", "Zg===", "Zm9v=", "Zm 9v", "Zm9v\n", "Zm9v!", "=Zg", "Z=g="]) {
    assert.throws(() => decodeBase64(bad), Base64Error, JSON.stringify(bad));
  }
});

test("the appendix's signing seed decodes to 32 bytes although its last character has non-zero spare bits", () => {
  const seed = decodeBase64("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1");
  assert.equal(seed.length, 32);
  // Re-encoding gives the canonical form, which ends differently: the spec's
  // string is not canonical base64, so decoders must not insist on it.
  assert.equal(encodeBase64(seed), "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA0");
});
