import { createHash } from "node:crypto";

/** SHA-256, the only hash Matrix events use (content hashes, reference hashes). Strings are hashed as UTF-8. */
export function sha256(data: string | Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(data).digest());
}
