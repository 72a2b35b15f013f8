/**
 * Presence (online, unavailable, offline, with a status message), held in
 * memory: it describes the present, so a restart that forgets it only
 * shows people offline until their clients next sync. Each change takes
 * the next position of the presence stream.
 */

export type PresenceState = "online" | "unavailable" | "offline";
export const PRESENCE_STATES: ReadonlySet<string> = new Set(["online", "unavailable", "offline"]);

export interface PresenceRecord {
  readonly userId: string;
  readonly presence: PresenceState;
  readonly statusMsg?: string;
  readonly lastActiveTs: number;
  readonly position: number;
}

/** A user counts as currently active this long after their last activity. */
const ACTIVE_MS = 60_000;
/**
 * How long an m.presence event's text is reused: its last_active_ago may be
 * this much behind, which no client shows (Element rounds to minutes).
 */
const EVENT_TEXT_MS = 1_000;

export class PresenceTracker {
  private readonly users = new Map<string, PresenceRecord>();
  /** Who changed, in position order (a user's older entries are skipped): a sync reads only the tail past its token. */
  private changes: Array<{ position: number; userId: string }> = [];
  private counter = 0;
  private readonly listeners: Array<(userId: string) => void> = [];
  private readonly eventTexts = new Map<string, { record: PresenceRecord; at: number; text: string }>();

  constructor(private readonly now: () => number = Date.now) {}

  get position(): number {
    return this.counter;
  }

  listen(listener: (userId: string) => void): void {
    this.listeners.push(listener);
  }

  /**
   * A user's presence: ours from their clients, or another server's user
   * from its m.presence EDU, which says how long ago they were last active.
   */
  set(userId: string, presence: PresenceState, statusMsg?: string, lastActiveAgo?: number): void {
    const old = this.users.get(userId);
    const unchanged = old && old.presence === presence && old.statusMsg === statusMsg;
    const lastActiveTs = lastActiveAgo !== undefined ? this.now() - lastActiveAgo : presence === "online" ? this.now() : old?.lastActiveTs ?? this.now();
    if (unchanged) {
      // Activity refreshes last_active silently: not a change worth waking anyone for.
      this.users.set(userId, { ...old, lastActiveTs });
      return;
    }
    this.users.set(userId, { userId, presence, statusMsg, lastActiveTs, position: ++this.counter });
    this.changes.push({ position: this.counter, userId });
    if (this.changes.length > 2 * this.users.size + 1000) {
      this.changes = this.changes.filter((c) => this.users.get(c.userId)?.position === c.position);
    }
    for (const l of this.listeners) l(userId);
  }

  get(userId: string): PresenceRecord | undefined {
    return this.users.get(userId);
  }

  /** Every record changed after `position`, oldest change first. */
  *changedSince(position: number): Iterable<PresenceRecord> {
    if (position >= this.counter) return;
    let lo = 0;
    let hi = this.changes.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.changes[mid].position <= position) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.changes.length; i++) {
      const rec = this.users.get(this.changes[i].userId);
      if (rec && rec.position === this.changes[i].position) yield rec;
    }
  }

  /**
   * The m.presence event of a record as JSON text, shared by every /sync
   * that sends it within EVENT_TEXT_MS (a reconnection storm sends each
   * person's presence to everyone in their rooms at once).
   */
  eventText(record: PresenceRecord): string {
    const now = this.now();
    const held = this.eventTexts.get(record.userId);
    if (held && held.record === record && now - held.at < EVENT_TEXT_MS) return held.text;
    const text = JSON.stringify({ type: "m.presence", sender: record.userId, content: this.content(record) });
    this.eventTexts.set(record.userId, { record, at: now, text });
    return text;
  }

  /** The m.presence content a client sees. */
  content(record: PresenceRecord | undefined): Record<string, unknown> {
    if (!record) return { presence: "offline" };
    const ago = Math.max(0, this.now() - record.lastActiveTs);
    const out: Record<string, unknown> = {
      presence: record.presence,
      last_active_ago: ago,
      currently_active: record.presence === "online" && ago < ACTIVE_MS,
    };
    if (record.statusMsg !== undefined) out.status_msg = record.statusMsg;
    return out;
  }
}
