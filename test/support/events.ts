/**
 * Builds RoomEvents for the pure engine tests without signing or hashing:
 * ids are given or made up, so a scenario reads like the DAG it draws.
 * Tests of hashing, ids and signatures build real PDUs instead.
 */
import type { JsonObject, PDU, RoomEvent } from "../../src/room/types.js";

export interface EventSpec {
  id: string;
  type: string;
  sender: string;
  stateKey?: string;
  content?: JsonObject;
  prev?: string[];
  auth?: string[];
  depth?: number;
  ts?: number;
  roomId?: string;
  roomVersion?: string;
  redacts?: string;
}

let clock = 1_000_000;

export function makeEvent(spec: EventSpec): RoomEvent {
  const roomId = spec.roomId ?? "!room:example.org";
  const ts = spec.ts ?? clock++;
  const pdu: PDU = {
    room_id: roomId,
    sender: spec.sender,
    type: spec.type,
    content: spec.content ?? {},
    origin_server_ts: ts,
    depth: spec.depth ?? 1,
    prev_events: spec.prev ?? [],
    auth_events: spec.auth ?? [],
    hashes: { sha256: "" },
    signatures: {},
  };
  if (spec.stateKey !== undefined) pdu.state_key = spec.stateKey;
  if (spec.redacts !== undefined) pdu.redacts = spec.redacts;
  return {
    eventId: spec.id,
    roomId,
    roomVersion: spec.roomVersion ?? "10",
    type: spec.type,
    stateKey: spec.stateKey,
    sender: spec.sender,
    content: pdu.content,
    originServerTs: ts,
    depth: pdu.depth,
    prevEventIds: spec.prev ?? [],
    authEventIds: spec.auth ?? [],
    redacts: spec.redacts,
    pdu,
  };
}
