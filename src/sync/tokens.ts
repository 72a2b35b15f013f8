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
  // Backfilled history sits below 0, so a position inside it is negative.
  const m = /^s(-?\d+)(?:_|$)/.exec(token);
  if (!m) throw new MatrixError(400, "M_INVALID_PARAM", `Invalid pagination token ${JSON.stringify(token)}`);
  return Number(m[1]);
}

/**
 * Where a /sync left off, one position per stream. Typing and presence
 * live in memory and restart from 0 with the server; a token from before a
 * restart carries larger numbers, which the builder treats as "send all".
 */
export interface SyncPosition {
  readonly events: number;
  readonly accountData: number;
  readonly receipts: number;
  readonly typing: number;
  readonly presence: number;
  readonly toDevice: number;
  readonly deviceLists: number;
}

export function formatSyncToken(p: SyncPosition): string {
  return `s${p.events}_${p.accountData}_${p.receipts}_${p.typing}_${p.presence}_${p.toDevice}_${p.deviceLists}`;
}

export function parseSyncToken(token: string): SyncPosition {
  // Five-part tokens come from before the end-to-end streams existed: they start those at 0.
  const m = /^s(\d+)_(\d+)_(\d+)_(\d+)_(\d+)(?:_(\d+)_(\d+))?$/.exec(token);
  if (!m) throw new MatrixError(400, "M_INVALID_PARAM", `Invalid sync token ${JSON.stringify(token)}`);
  const [events, accountData, receipts, typing, presence, toDevice, deviceLists] = m.slice(1).map((x) => Number(x ?? 0));
  return { events, accountData, receipts, typing, presence, toDevice, deviceLists };
}
