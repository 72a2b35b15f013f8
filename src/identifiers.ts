/**
 * The grammar of Matrix identifiers (appendices: identifier grammar).
 */

/** Localparts this server hands out: the spec's current grammar, lowercase only. */
const LOCALPART = /^[a-z0-9._=\-/+]+$/;

export function isValidLocalpart(localpart: string): boolean {
  return localpart.length > 0 && LOCALPART.test(localpart);
}

/** The server name part of a user, room (pre-v12) or event (v1–v2) id: everything after the first colon. */
export function serverNameOf(id: string): string | undefined {
  const i = id.indexOf(":");
  return i === -1 ? undefined : id.slice(i + 1);
}

/** A user id on this server: @localpart:server_name, at most 255 bytes. */
export function localUserId(localpart: string, serverName: string): string {
  return `@${localpart}:${serverName}`;
}
