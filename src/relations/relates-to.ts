/**
 * What an event's `content["m.relates_to"]` says, read the way the server
 * indexes it (pure). Only relations with a string `rel_type` and
 * `event_id` are indexed: rich replies (`m.in_reply_to` alone) are not
 * relationships the server aggregates, and a malformed relation is
 * ignored, as the spec asks ("Relationships which don't match the schema
 * ... are simply ignored").
 */
import type { JsonObject } from "../room/types.js";

export const REL_REPLACE = "m.replace";
export const REL_THREAD = "m.thread";
export const REL_REFERENCE = "m.reference";
export const REL_ANNOTATION = "m.annotation";

/** The relation types the server bundles into unsigned["m.relations"] (annotations are not aggregated). */
export const AGGREGATED_REL_TYPES: readonly string[] = [REL_REPLACE, REL_THREAD, REL_REFERENCE];

export interface Relation {
  readonly relType: string;
  /** The parent: the event this one relates to. */
  readonly parentId: string;
  /** An annotation's key (the reaction's emoji); null for other relations. */
  readonly key: string | null;
}

/** Longer values are not indexed: they could not be looked up by a path segment anyway. */
const MAX_ID_LENGTH = 255;

export function relationOf(content: JsonObject | undefined): Relation | null {
  const rel = content?.["m.relates_to"];
  if (typeof rel !== "object" || rel === null || Array.isArray(rel)) return null;
  const r = rel as JsonObject;
  if (typeof r.rel_type !== "string" || typeof r.event_id !== "string") return null;
  if (r.rel_type.length === 0 || r.rel_type.length > MAX_ID_LENGTH || r.event_id.length === 0 || r.event_id.length > MAX_ID_LENGTH) return null;
  const key = r.rel_type === REL_ANNOTATION && typeof r.key === "string" ? r.key : null;
  return { relType: r.rel_type, parentId: r.event_id, key };
}
