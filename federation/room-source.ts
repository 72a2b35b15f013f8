/**
 * The engine's view of other servers' copies of a room (RemoteRoomSource):
 * single events, recent missing events, the state at an event and auth
 * chains, each one federation request (the state falls back to /state_ids
 * and single events when /state is not served).
 */
import type { RemoteRoomSource } from "../src/engine/remote-events.js";
import type { PDU } from "../src/room/types.js";
import { FederationError, type FederationClient } from "./client.js";

const V1 = "/_matrix/federation/v1";
const enc = encodeURIComponent;

function pdusOf(v: unknown): PDU[] {
  return Array.isArray(v) ? v.filter((p): p is PDU => typeof p === "object" && p !== null) : [];
}

/** An endpoint the server does not serve: 404/405 (or 400) that is no Matrix error, or M_UNRECOGNIZED. */
function routeMissing(err: unknown): boolean {
  if (!(err instanceof FederationError) || ![400, 404, 405, 501].includes(err.status)) return false;
  const errcode = err.body?.errcode;
  return errcode === undefined || errcode === "M_UNRECOGNIZED";
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
    try {
      const r = await this.client.request(server, "GET", `${V1}/state/${enc(roomId)}`, { query: { event_id: eventId } });
      return { pdus: pdusOf(r.pdus), authChain: pdusOf(r.auth_chain) };
    } catch (err) {
      if (!routeMissing(err)) throw err;
    }
    // A server without /state (some serve only /state_ids, as Synapse asks for): the ids, then each event.
    const ids = await this.client.request(server, "GET", `${V1}/state_ids/${enc(roomId)}`, { query: { event_id: eventId } });
    const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);
    const [pdus, authChain] = await Promise.all([this.events(server, strings(ids.pdu_ids)), this.events(server, strings(ids.auth_chain_ids))]);
    return { pdus, authChain };
  }

  /** Events by id from one server, a few requests at a time; those it cannot give are left out. */
  private async events(server: string, ids: string[]): Promise<PDU[]> {
    const out: PDU[] = [];
    for (let i = 0; i < ids.length; i += 8) {
      const got = await Promise.all(ids.slice(i, i + 8).map((id) => this.event(server, id).catch(() => undefined)));
      for (const p of got) if (p) out.push(p);
    }
    return out;
  }

  async authChain(server: string, roomId: string, eventId: string): Promise<PDU[]> {
    const r = await this.client.request(server, "GET", `${V1}/event_auth/${enc(roomId)}/${enc(eventId)}`);
    return pdusOf(r.auth_chain);
  }
}
