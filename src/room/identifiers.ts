/**
 * The grammar of Matrix identifiers (appendices: identifier grammar).
 */

/** hostname, IPv4 literal or [IPv6 literal], with an optional port. */
export const SERVER_NAME = /^(?:\[[0-9A-Fa-f:.]{2,45}\]|[0-9A-Za-z.-]{1,255})(?::[0-9]{1,5})?$/;

/** Localparts this server hands out: the spec's current grammar (lowercase only). */
const LOCALPART = /^[a-z0-9._=\-/+]+$/;

export function isValidServerName(name: string): boolean {
  return SERVER_NAME.test(name);
}

export function isValidLocalpart(localpart: string): boolean {
  return localpart.length > 0 && LOCALPART.test(localpart);
}

/**
 * A user id as rooms must accept it: `@`, a localpart of anything but `:` and
 * NUL (historical ids may even be empty), `:`, a grammatical server name, and
 * at most 255 bytes. Stricter than this would split rooms that have old users.
 */
export function isValidUserId(id: string): boolean {
  if (!id.startsWith("@") || Buffer.byteLength(id, "utf8") > 255) return false;
  const colon = id.indexOf(":");
  if (colon === -1 || id.slice(0, colon).includes("\u0000")) return false;
  return SERVER_NAME.test(id.slice(colon + 1));
}

/** The server name part of a user, room (before v12) or event (v1–v2) id: everything after the first colon. */
export function serverNameOf(id: string): string | undefined {
  const i = id.indexOf(":");
  return i === -1 ? undefined : id.slice(i + 1);
}

/** #localpart:server, at most 255 bytes; the localpart may hold anything but ':' and NUL. */
export function isValidRoomAlias(alias: string): boolean {
  if (!alias.startsWith("#") || Buffer.byteLength(alias, "utf8") > 255) return false;
  const colon = alias.indexOf(":");
  if (colon < 1 || alias.slice(1, colon).includes("\u0000")) return false;
  return SERVER_NAME.test(alias.slice(colon + 1));
}
