/**
 * ed25519 on the hot path: tweetnacl (pure JS) against node:crypto
 * (OpenSSL). Verifying is what a server does most (every received PDU,
 * every signed federation request), so it decides the choice.
 *
 *   npm run build && node dist/test/bench/ed25519.js [seconds-per-case]
 *
 * or, without touching dist/ (the compiled script needs node_modules beside it):
 *
 *   npx tsc -p tsconfig.json --outDir /tmp/h1-dist --tsBuildInfoFile /tmp/h1-dist/.tsbuildinfo
 *   ln -sfn "$PWD/node_modules" /tmp/h1-dist/node_modules && cp package.json /tmp/h1-dist/
 *   node /tmp/h1-dist/test/bench/ed25519.js 2
 */
import { sign as cryptoSign, verify as cryptoVerify, randomBytes } from "node:crypto";
import nacl from "tweetnacl";
import { privateKeyObject, publicKeyObject, signingKeyFromSeed } from "../../src/crypto/keys.js";
import { ed25519Verify } from "../../src/crypto/signing.js";

const seconds = Number(process.argv[2] ?? "1");
const seed = new Uint8Array(randomBytes(32));
const key = signingKeyFromSeed("ed25519:bench", seed);
// A message the size of a typical canonical event (about 1 KiB).
const message = new Uint8Array(randomBytes(1024));
const naclPair = nacl.sign.keyPair.fromSeed(seed);
const priv = privateKeyObject(seed);
const pub = publicKeyObject(key.publicKey);
const signature = nacl.sign.detached(message, naclPair.secretKey);

function rate(name: string, fn: () => unknown): number {
  for (let i = 0; i < 50; i++) fn(); // warm up
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < end) {
    for (let i = 0; i < 20; i++) fn();
    n += 20;
    now = process.hrtime.bigint();
  }
  const perSec = n / (Number(now - start) / 1e9);
  console.log(`${name.padEnd(28)} ${perSec.toFixed(0).padStart(8)} ops/s`);
  return perSec;
}

const ns = rate("tweetnacl sign", () => nacl.sign.detached(message, naclPair.secretKey));
const cs = rate("node:crypto sign", () => cryptoSign(null, message, priv));
const nv = rate("tweetnacl verify", () => nacl.sign.detached.verify(message, signature, naclPair.publicKey));
const cv = rate("node:crypto verify", () => cryptoVerify(null, message, pub, signature));
rate("ed25519Verify (cached key)", () => ed25519Verify(message, signature, key.publicKey));
const cvk = rate("node:crypto verify+import", () => cryptoVerify(null, message, publicKeyObject(key.publicKey), signature));
console.log(`node:crypto / tweetnacl: sign ${(cs / ns).toFixed(1)}x, verify ${(cv / nv).toFixed(1)}x (with key import each time ${(cvk / nv).toFixed(1)}x)`);
