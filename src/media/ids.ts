/**
 * Media ids and mxc:// URIs. The spec requires a media id to be only
 * A-Za-z0-9, _ and -, and the server name to be a valid server name: both
 * end up in file paths, so anything else is refused before it gets near
 * the disk (the spec's directory traversal warning).
 */
import { randomBytes } from "node:crypto";
import { isValidServerName } from "../room/identifiers.js";

const MEDIA_ID = /^[A-Za-z0-9_-]{1,255}$/;
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

export function isValidMediaId(id: string): boolean {
  return MEDIA_ID.test(id);
}

/** 24 random letters and digits (~143 bits): unguessable, so knowing an mxc URI is the only way to it. */
export function newMediaId(): string {
  const bytes = randomBytes(32);
  let out = "";
  // 248 = 4 * 62: bytes at or above it are skipped so every letter is equally likely.
  for (const b of bytes) {
    if (b < 248) out += ALPHABET[b % 62];
    if (out.length === 24) return out;
  }
  return out + newMediaId().slice(0, 24 - out.length);
}

export function mxcUri(serverName: string, mediaId: string): string {
  return `mxc://${serverName}/${mediaId}`;
}

/** Whether a (server name, media id) pair from a request path may be looked up at all. */
export function isValidMediaRef(serverName: string, mediaId: string): boolean {
  return isValidServerName(serverName) && isValidMediaId(mediaId);
}
