/** What search reads of an event, how a term becomes words, and highlights; the spec's order of space children. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { fts5Query, highlightsIn, searchableText, searchWords, tsQuery } from "../../../src/search/terms.js";
import { sortChildren, type SpaceChild } from "../../../src/rooms/hierarchy.js";

describe("search terms", () => {
  it("reads message bodies, and names and topics only as state", () => {
    assert.deepEqual(searchableText({ type: "m.room.message", stateKey: undefined, content: { body: "hi there" } }), { key: "content.body", value: "hi there" });
    assert.deepEqual(searchableText({ type: "m.room.name", stateKey: "", content: { name: "Club" } }), { key: "content.name", value: "Club" });
    assert.equal(searchableText({ type: "m.room.name", stateKey: undefined, content: { name: "Club" } }), undefined);
    assert.equal(searchableText({ type: "m.room.message", stateKey: undefined, content: { body: "   " } }), undefined);
    assert.equal(searchableText({ type: "m.room.encrypted", stateKey: undefined, content: { ciphertext: "x" } }), undefined);
    assert.deepEqual(
      searchableText({ type: "m.room.topic", stateKey: "", content: { topic: "Plain", "m.topic": { "m.text": [{ mimetype: "text/html", body: "<b>Rich</b>" }, { body: "Also plain" }] } } }),
      { key: "content.topic", value: "Plain\nAlso plain" },
    );
  });

  it("turns a term into words that carry no query syntax", () => {
    assert.deepEqual(searchWords(`Martians "AND" men* OR (NEAR) -x martians`), ["martians", "and", "men", "or", "near", "x"]);
    assert.deepEqual(searchWords("ünïcode 東京 42"), ["ünïcode", "東京", "42"]);
    assert.deepEqual(searchWords(`"*):&|!`), []);
    assert.equal(fts5Query(["a", "b"]), `"a"* "b"*`);
    assert.equal(tsQuery(["a", "b"]), "a:* & b:*");
  });

  it("highlights the words the query matched, as written", () => {
    assert.deepEqual(highlightsIn(["The Martians have landed", "martian law"], ["martian"]).sort(), ["Martians", "martian"].sort());
  });
});

describe("space children order", () => {
  const child = (id: string, ts: number, order?: string) =>
    ({ roomId: id, via: ["x"], originServerTs: ts, content: { via: ["x"], ...(order !== undefined ? { order } : {}) } }) satisfies SpaceChild;
  it("puts valid orders first (by code point), then the rest by timestamp, ties by room id", () => {
    const sorted = sortChildren([child("!e", 1), child("!d", 5, "aaaa"), child("!c", 9, " "), child("!b", 1), child("!a", 3, "\n bad"), child("!f", 2, "aaaa")]);
    assert.deepEqual(sorted.map((e) => e.roomId), ["!c", "!f", "!d", "!b", "!e", "!a"]);
  });
});
