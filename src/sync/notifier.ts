/**
 * The notifier: wakes the /sync requests that a change concerns.
 *
 * An idle request costs one pending promise and one timer: nothing polls,
 * nothing reads the database while it waits. Each user has a generation
 * counter that every wake-up bumps; a request notes the generation before
 * it builds its (empty) answer and waits only if the generation is still
 * the same, so a change that lands between building and waiting is never
 * slept through.
 *
 * Which local users a room's change concerns is kept in memory (room ->
 * local users joined, invited or knocking), loaded from the database the
 * first time a room is touched and kept current from membership events.
 */
import type { PersistedEvent } from "../engine/persist.js";
import { serverNameOf } from "../room/identifiers.js";
import type { StateStore } from "../storage/state-store.js";

interface Waiter {
  readonly resolve: (woken: boolean) => void;
  readonly timer: NodeJS.Timeout;
}

const INTERESTED = new Set(["join", "invite", "knock"]);

export class Notifier {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private readonly generations = new Map<string, number>();
  private readonly roomUsers = new Map<string, Set<string>>();
  private readonly loading = new Map<string, Promise<Set<string>>>();
  private closing = false;
  /** Rooms whose membership changed while their members were being read: that read may predate the change. */
  private readonly staleLoads = new Set<string>();

  constructor(
    private readonly serverName: string,
    private readonly states: StateStore,
  ) {}

  generation(userId: string): number {
    return this.generations.get(userId) ?? 0;
  }

  /**
   * Wait until `userId` is woken (true) or `timeoutMs` passes (false).
   * Resolves at once if the user was woken since `sinceGeneration`. An
   * aborted `signal` (the client hung up) ends the wait early (false), so a
   * dropped connection does not hold its timer until the timeout.
   */
  wait(userId: string, sinceGeneration: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.generation(userId) !== sinceGeneration) return Promise.resolve(true);
    if (timeoutMs <= 0 || signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      let set = this.waiters.get(userId);
      if (!set) {
        set = new Set();
        this.waiters.set(userId, set);
      }
      const onAbort = () => {
        clearTimeout(waiter.timer);
        this.remove(userId, waiter);
        resolve(false);
      };
      const waiter: Waiter = {
        resolve: (woken) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(woken);
        },
        timer: setTimeout(() => {
          signal?.removeEventListener("abort", onAbort);
          this.remove(userId, waiter);
          resolve(false);
        }, timeoutMs),
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      set.add(waiter);
    });
  }

  /** Number of requests waiting now (for metrics and tests). */
  get waiting(): number {
    let n = 0;
    for (const set of this.waiters.values()) n += set.size;
    return n;
  }

  wake(userIds: Iterable<string>): void {
    for (const userId of userIds) {
      this.generations.set(userId, this.generation(userId) + 1);
      const set = this.waiters.get(userId);
      if (!set) continue;
      this.waiters.delete(userId);
      for (const w of set) {
        clearTimeout(w.timer);
        w.resolve(true);
      }
    }
  }

  /** Wake the local users a room's change concerns. */
  async wakeRoom(roomId: string, also: Iterable<string> = []): Promise<void> {
    let members: ReadonlySet<string> = new Set();
    try {
      members = await this.localUsers(roomId);
    } catch {
      // The members could not be read (the database is closing): wake those named, never reject.
    }
    const users = new Set(members);
    for (const u of also) if (this.isLocal(u)) users.add(u);
    this.wake(users);
  }

  /** The persist listener: keep room membership current, then wake the room. */
  onPersisted = (p: PersistedEvent): void => {
    const ev = p.event;
    const extra: string[] = [];
    if (ev.type === "m.room.member" && ev.stateKey !== undefined && p.stateChanged) {
      extra.push(ev.stateKey);
      const users = this.roomUsers.get(ev.roomId);
      if (!users && this.loading.has(ev.roomId)) this.staleLoads.add(ev.roomId);
      if (users && this.isLocal(ev.stateKey)) {
        if (INTERESTED.has(String(ev.content.membership))) users.add(ev.stateKey);
        else users.delete(ev.stateKey);
      }
    }
    void this.wakeRoom(ev.roomId, extra);
  };

  /** The local users who may sync this room: joined, invited, knocking. */
  async localUsers(roomId: string): Promise<ReadonlySet<string>> {
    const known = this.roomUsers.get(roomId);
    if (known) return known;
    if (this.closing) return new Set();
    let pending = this.loading.get(roomId);
    if (!pending) {
      pending = (async () => {
        const users = new Set<string>();
        for (const m of INTERESTED) for (const u of await this.states.membersOfRoom(roomId, m)) if (this.isLocal(u)) users.add(u);
        return users;
      })();
      this.loading.set(roomId, pending);
      // Only the request that started the read decides whether to keep it.
      pending.then(
        (users) => {
          if (this.loading.get(roomId) !== pending) return;
          this.loading.delete(roomId);
          // A membership change committed during the read may be missing from it: use it once, keep nothing.
          if (this.staleLoads.delete(roomId)) return;
          if (!this.roomUsers.has(roomId)) this.roomUsers.set(roomId, users);
        },
        () => {
          if (this.loading.get(roomId) === pending) this.loading.delete(roomId);
          this.staleLoads.delete(roomId);
        },
      );
    }
    const users = await pending;
    return this.roomUsers.get(roomId) ?? users;
  }

  /**
   * Shutdown: release every waiting request, read the database no more, and
   * let reads under way finish, so the database can close cleanly after this.
   */
  async close(): Promise<void> {
    this.closing = true;
    for (const [userId, set] of this.waiters) {
      for (const w of set) {
        clearTimeout(w.timer);
        w.resolve(false);
      }
      this.waiters.delete(userId);
    }
    await Promise.allSettled([...this.loading.values()]);
  }

  private isLocal(userId: string): boolean {
    return serverNameOf(userId) === this.serverName;
  }

  private remove(userId: string, w: Waiter): void {
    const set = this.waiters.get(userId);
    if (!set) return;
    set.delete(w);
    if (set.size === 0) this.waiters.delete(userId);
  }
}
