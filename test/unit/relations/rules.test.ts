/** What the server reads of m.relates_to, and which edits may stand for an original (pure). */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { relationOf } from "../../../src/relations/relates-to.js";
import { isValidEdit } from "../../../src/relations/aggregations.js";
import type { JsonObject, RoomEvent } from "../../../src/room/types.js";

function ev(over: Partial<RoomEvent> & { content: JsonObject }): RoomEvent {
  return {
    eventId: "$e", roomId: "!r:x", sender: "@a:x", type: "m.room.message", originServerTs: 1, roomVersion: "10",
    prevEventIds: [], authEventIds: [], depth: 1, stateKey: undefined, pdu: {} as never, ...over,
  } as RoomEvent;
}

describe("relations", () => {
  it("reads a relation with a string rel_type and event_id, and an annotation's key", () => {
    assert.deepEqual(relationOf({ "m.relates_to": { rel_type: "m.thread", event_id: "$root" } }), { relType: "m.thread", parentId: "$root", key: null });
    assert.deepEqual(relationOf({ "m.relates_to": { rel_type: "m.annotation", event_id: "$p", key: "👍" } }), { relType: "m.annotation", parentId: "$p", key: "👍" });
    // A rich reply alone is not a relationship the server indexes; malformed ones are ignored.
    assert.equal(relationOf({ "m.relates_to": { "m.in_reply_to": { event_id: "$p" } } }), null);
    assert.equal(relationOf({ "m.relates_to": { rel_type: "m.thread", event_id: 5 } }), null);
    assert.equal(relationOf({ "m.relates_to": { rel_type: "", event_id: "$p" } }), null);
    assert.equal(relationOf({ "m.relates_to": ["m.thread"] }), null);
    assert.equal(relationOf({}), null);
    assert.equal(relationOf(undefined), null);
  });

  it("accepts only edits by the same sender, of the same type, with m.new_content, of a non-edit", () => {
    const original = ev({ eventId: "$o", content: { body: "a" } });
    const edit = (over: Partial<RoomEvent> = {}, content: JsonObject = {}) =>
      ev({ eventId: "$x", content: { body: "* b", "m.new_content": { body: "b" }, "m.relates_to": { rel_type: "m.replace", event_id: "$o" }, ...content }, ...over });
    assert.equal(isValidEdit(original, edit()), true);
    assert.equal(isValidEdit(original, edit({ sender: "@b:x" })), false);
    assert.equal(isValidEdit(original, edit({ type: "m.sticker" })), false);
    assert.equal(isValidEdit(original, edit({ roomId: "!other:x" })), false);
    assert.equal(isValidEdit(original, edit({ stateKey: "" })), false);
    assert.equal(isValidEdit(ev({ eventId: "$o", stateKey: "", content: {} }), edit()), false);
    assert.equal(isValidEdit(original, edit({}, { "m.new_content": "b" })), false);
    const anEdit = ev({ eventId: "$o", content: { "m.new_content": {}, "m.relates_to": { rel_type: "m.replace", event_id: "$z" } } });
    assert.equal(isValidEdit(anEdit, edit()), false);
    // Encrypted: m.new_content is inside the ciphertext.
    const enc = ev({ eventId: "$o", type: "m.room.encrypted", content: { ciphertext: "c" } });
    assert.equal(isValidEdit(enc, ev({ eventId: "$x", type: "m.room.encrypted", content: { ciphertext: "d", "m.relates_to": { rel_type: "m.replace", event_id: "$o" } } })), true);
  });
});
