/**
 * Who is typing in which room. Ephemeral: held in memory only, lost on
 * restart, which costs nothing but a typing notice. Each change takes the
 * next position of the typing stream so /sync sends a room's typing list
 * only when it changed; an expiry is a change too, found by a sweep that
 * runs only while someone is typing.
 */

export type TypingListener = (roomId: string) => void;

interface RoomTyping {
  /** user -> expiry time (ms) */
  readonly users: Map<string, number>;
  /** The typing-stream position of this room's last change. */
  position: number;
}

const MAX_TIMEOUT_MS = 120_000;

export class TypingTracker {
  private readonly rooms = new Map<string, RoomTyping>();
  private positionCounter = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly listeners: TypingListener[] = [];
  private readonly userListeners: Array<(roomId: string, userId: string, typing: boolean, timeoutMs: number) => void> = [];

  constructor(private readonly now: () => number = Date.now) {}

  /** Called with the room id after each change (the notifier wakes the room's members). */
  listen(listener: TypingListener): void {
    this.listeners.push(listener);
  }

  /** Called on every explicit typing notice (refreshes included), for relaying to other servers. */
  onNotice(listener: (roomId: string, userId: string, typing: boolean, timeoutMs: number) => void): void {
    this.userListeners.push(listener);
  }

  get position(): number {
    return this.positionCounter;
  }

  setTyping(roomId: string, userId: string, typing: boolean, timeoutMs = 30_000): void {
    for (const l of this.userListeners) l(roomId, userId, typing, timeoutMs);
    let room = this.rooms.get(roomId);
    if (!typing) {
      if (!room?.users.delete(userId)) return;
    } else {
      room ??= this.roomEntry(roomId);
      const wasTyping = room.users.has(userId);
      room.users.set(userId, this.now() + Math.min(Math.max(timeoutMs, 0), MAX_TIMEOUT_MS));
      this.schedule();
      if (wasTyping) return; // a refresh changes nothing anyone sees
    }
    this.changed(roomId, room!);
  }

  /** The users typing in a room now, and the position of the room's last change. */
  typing(roomId: string): { userIds: string[]; position: number } {
    const room = this.rooms.get(roomId);
    return { userIds: room ? [...room.users.keys()] : [], position: room?.position ?? 0 };
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private roomEntry(roomId: string): RoomTyping {
    const room = { users: new Map<string, number>(), position: 0 };
    this.rooms.set(roomId, room);
    return room;
  }

  private changed(roomId: string, room: RoomTyping): void {
    room.position = ++this.positionCounter;
    // An empty room keeps its entry: a syncing client must still learn the list emptied.
    for (const listener of this.listeners) listener(roomId);
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => this.sweep(), 1000);
    this.timer.unref();
  }

  private sweep(): void {
    this.timer = undefined;
    const now = this.now();
    let anyone = false;
    for (const [roomId, room] of this.rooms) {
      let expired = false;
      for (const [user, until] of room.users) {
        if (until <= now) {
          room.users.delete(user);
          expired = true;
        }
      }
      if (expired) this.changed(roomId, room);
      if (room.users.size > 0) anyone = true;
    }
    if (anyone) this.schedule();
  }
}
