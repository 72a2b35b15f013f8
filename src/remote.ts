/**
 * What the engine and the client API need from other servers, declared
 * here and implemented by federation/ (plugged in by homeserver.ts), so
 * that src/ and client-api/ never speak the server-server protocol.
 */
import { MatrixError } from "./http/errors.js";
import type { JsonObject } from "./room/types.js";

export interface RemoteServers {
  /** Join a room held by other servers (make_join, send_join); resolves to the room id once the join is committed here. */
  joinRoom(userId: string, roomId: string, servers: readonly string[], content: JsonObject): Promise<string>;
  /** Knock on a room held by other servers (make_knock, send_knock); resolves once the knock is recorded here. */
  knockRoom(userId: string, roomId: string, servers: readonly string[], content: JsonObject): Promise<void>;
  /** Leave a room we are no longer joined to by anyone local, or reject an invite from another server (make_leave, send_leave). */
  leaveRoom(userId: string, roomId: string, servers: readonly string[], content: JsonObject): Promise<void>;
  /** Invite a user of another server (the invite goes to their server to sign first); returns the signed invite. */
  invite(roomId: string, roomVersion: string, inviteEvent: JsonObject, strippedState: JsonObject[]): Promise<JsonObject>;
  /** The room id and servers for an alias on another server. */
  resolveAlias(alias: string): Promise<{ roomId: string; servers: string[] }>;
  /** A profile (or one field) of a user on another server. */
  profile(userId: string, field?: string): Promise<JsonObject>;
  /** /keys/query and /keys/claim for users on one other server. */
  queryKeys(server: string, deviceKeys: Record<string, string[]>): Promise<JsonObject>;
  claimKeys(server: string, oneTimeKeys: Record<string, Record<string, string>>): Promise<JsonObject>;
  /** Another server's public room directory. */
  publicRooms(server: string, params: { limit?: number; since?: string; filter?: Record<string, unknown> }): Promise<JsonObject>;
  /** Fetch up to `limit` events of history older than what we hold of a room; resolves to how many were added. */
  backfill(roomId: string, limit: number): Promise<number>;
  /** A space held by other servers (federation /hierarchy through one of `via`): their raw answer, or undefined if none answered. */
  spaceHierarchy(roomId: string, via: readonly string[], suggestedOnly: boolean): Promise<unknown>;
  /** Queue to-device messages for users on another server (delivered in its next transaction). */
  sendToDevice(server: string, sender: string, type: string, messageId: string, messages: Record<string, Record<string, JsonObject>>): Promise<void>;
}

/** Until federation is plugged in (or when it is disabled): every remote operation is refused. */
export class NoFederation implements RemoteServers {
  private fail(): never {
    throw new MatrixError(403, "M_FORBIDDEN", "Federation is not available on this server");
  }
  joinRoom(): Promise<string> { this.fail(); }
  leaveRoom(): Promise<void> { this.fail(); }
  knockRoom(): Promise<void> { this.fail(); }
  invite(): Promise<JsonObject> { this.fail(); }
  resolveAlias(): Promise<{ roomId: string; servers: string[] }> { this.fail(); }
  profile(): Promise<JsonObject> { this.fail(); }
  queryKeys(): Promise<JsonObject> { this.fail(); }
  claimKeys(): Promise<JsonObject> { this.fail(); }
  publicRooms(): Promise<JsonObject> { this.fail(); }
  async backfill(): Promise<number> {
    return 0;
  }
  // Other servers' spaces are simply not listed.
  async spaceHierarchy(): Promise<unknown> {
    return undefined;
  }
  // Messages for other servers go nowhere when there is no federation, as for an unknown device.
  async sendToDevice(): Promise<void> {}
}
