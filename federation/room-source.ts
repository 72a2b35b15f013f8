/**
 * The engine's view of other servers' copies of a room (RemoteRoomSource):
 * single events, recent missing events, the state at an event and auth
 * chains, each one federation request.
 */
import type { RemoteRoomSource } from "../src/engine/remote-events.js";
import type { PDU } from "../src/room/types.js";
import type { FederationClient } from "./client.js";

const V1 = "/_matrix/federation/v1";
const enc = encodeURIComponent;

function pdusOf(v: unknown): PDU[] {
  return Array.isArray(v) ? v.filter((p): p is PDU => typeof p === "object" && p !== null) : [];
}

export class FederationRoomSource implements RemoteRoomSource {
  constructor(private readonly client: FederationClient) {}

  async event(server: string, eventId: string): Promise<PDU | undefined> {
    const r = await this.client.request(server, "GET", `${V1}/event/${enc(eventId)}`);
    return pdusOf(r.pdus)[0];
  }

  async missingEvents(server: string, roomId: string, earliest: string[], latest: string[], limit: number, minDepth: number): Promise<PDU[]> {
    const r = await this.client.request(server, "POST", `${V1}/get_missing_events/${enc(roomId)}`, {
      body: { earliest_events: earliest, latest_events: latest, limit, min_depth: minDepth },
    });
    return pdusOf(r.events);
  }

  async stateAt(server: string, roomId: string, eventId: string): Promise<{ pdus: PDU[]; authChain: PDU[] }> {
    const r = await this.client.request(server, "GET", `${V1}/state/${enc(roomId)}`, { query: { event_id: eventId } });
    return { pdus: pdusOf(r.pdus), authChain: pdusOf(r.auth_chain) };
  }

  async authChain(server: string, roomId: string, eventId: string): Promise<PDU[]> {
    const r = await this.client.request(server, "GET", `${V1}/event_auth/${enc(roomId)}/${enc(eventId)}`);
    return pdusOf(r.auth_chain);
  }
}
