/**
 * The server's rules for relations a local user sends, and which thread an
 * event belongs to (for threaded receipts). Relations arriving over
 * federation are indexed as they are: other servers' rules are theirs, and
 * clients ignore what breaks the relationship's own rules.
 */
import type { Knex } from "knex";
import { MatrixError } from "../http/errors.js";
import type { RoomEvent } from "../room/types.js";
import type { EventStore } from "../storage/event-store.js";
import type { RelationStore } from "../storage/relation-store.js";
import { REL_ANNOTATION, REL_THREAD, relationOf } from "./relates-to.js";

/** How many relationships are followed up to find an event's thread (the spec recommends 3). */
export const THREAD_HOPS = 3;

/** As Synapse: longer reaction keys are refused. */
const MAX_ANNOTATION_KEY = 500;

/** The special thread id of the main timeline. */
export const MAIN_THREAD = "main";

/**
 * Checked inside the new event's own transaction (and so under the room's
 * lock): a second identical annotation can never slip in between a check
 * and a commit.
 *
 * - the parent is in the same room, and is held here or already has
 *   children (else the client cannot know it exists) (Synapse's rules; 400 M_UNKNOWN);
 * - an annotation has a key of at most 500 characters (as Synapse; 400 M_UNKNOWN);
 * - no thread off an event that itself relates to another (the spec's
 *   "Validation of m.thread relationships": 400 M_UNKNOWN);
 * - no second annotation with the same type and key by the same sender
 *   (the spec's "Avoiding duplicate annotations": 400 M_DUPLICATE_ANNOTATION).
 */
export async function checkLocalRelation(
  trx: Knex.Transaction, events: EventStore, relations: RelationStore, event: RoomEvent,
): Promise<void> {
  const rel = relationOf(event.content);
  if (!rel) return;
  const parent = await events.getEvent(rel.parentId, trx);
  if (parent && parent.event.roomId !== event.roomId) {
    throw new MatrixError(400, "M_UNKNOWN", "Relations must be in the same room as the event they relate to");
  }
  if (!parent && !(await relations.isParent(trx, event.roomId, rel.parentId))) {
    throw new MatrixError(400, "M_UNKNOWN", "Can't send a relation to an unknown event");
  }
  if (rel.relType === REL_ANNOTATION && rel.key === null) throw new MatrixError(400, "M_UNKNOWN", "An annotation needs a key");
  if (rel.key !== null && rel.key.length > MAX_ANNOTATION_KEY) throw new MatrixError(400, "M_UNKNOWN", "The annotation key is too long");
  if (rel.relType === REL_THREAD && parent && relationOf(parent.event.content) !== null) {
    throw new MatrixError(400, "M_UNKNOWN", "Cannot start a thread from an event with a relation");
  }
  if (rel.relType === REL_ANNOTATION && rel.key !== null
    && (await relations.hasAnnotation(trx, event.roomId, rel.parentId, event.type, event.sender, rel.key))) {
    throw new MatrixError(400, "M_DUPLICATE_ANNOTATION", "You have already sent this annotation");
  }
}

/**
 * Which thread ids a receipt on this event may name. Following its
 * relationships up (at most THREAD_HOPS), the first m.thread relationship
 * found names its thread; an event with none is in the main timeline. A
 * thread root is in the main timeline, and also names its own thread (a
 * client reading a thread receipts its root there), as do events related
 * to a root by other relationships on the way up.
 */
export async function receiptThreadsOf(relations: RelationStore, roomId: string, eventId: string): Promise<Set<string>> {
  const out = new Set<string>();
  let current = eventId;
  for (let hop = 0; hop <= THREAD_HOPS; hop++) {
    if (await relations.hasChildren(roomId, current, REL_THREAD)) out.add(current);
    if (hop === THREAD_HOPS) break;
    const rel = await relations.relationOf(current);
    if (!rel || rel.roomId !== roomId) break;
    if (rel.relType === REL_THREAD) {
      out.add(rel.parentId);
      return out;
    }
    current = rel.parentId;
  }
  out.add(MAIN_THREAD);
  return out;
}
