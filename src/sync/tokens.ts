/**
 * Stream tokens. A room position `s<N>` stands just after the event with
 * stream ordering N: paginating backwards from it returns N and older,
 * forwards returns newer than N. A /sync token starts with the same
 * `s<N>` for the event stream, followed by `_`-separated positions of the
 * other streams, so a sync token is also a valid /messages `from`.
 */
import { MatrixError } from "../http/errors.js";

export function formatRoomPosition(n: number): string {
  return `s${n}`;
}

/** The event stream position of a /messages token or a /sync token. */
export function parseRoomPosition(token: string): number {
  const m = /^s(\d+)(?:_|$)/.exec(token);
  if (!m) throw new MatrixError(400, "M_INVALID_PARAM", `Invalid pagination token ${JSON.stringify(token)}`);
  return Number(m[1]);
}
