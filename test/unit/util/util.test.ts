import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { Lru } from "../../../src/util/lru.js";
import { JsonText, stringifyObject } from "../../../src/util/json-text.js";
import { KeyedMutex } from "../../../src/util/keyed-mutex.js";
import { StreamIdGenerator } from "../../../src/storage/stream-ids.js";
import { diffState } from "../../../src/storage/state-store.js";

describe("Lru", () => {
  it("evicts the least recently used entry past its capacity", () => {
    const lru = new Lru<string, number>(2);
    lru.set("a", 1);
    lru.set("b", 2);
    assert.equal(lru.get("a"), 1); // a is now the most recent
    lru.set("c", 3);
    assert.equal(lru.get("b"), undefined);
    assert.equal(lru.get("a"), 1);
    assert.equal(lru.get("c"), 3);
    assert.equal(lru.size, 2);
  });
  it("holds nothing at capacity zero", () => {
    const lru = new Lru<string, number>(0);
    lru.set("a", 1);
    assert.equal(lru.get("a"), undefined);
  });
});

describe("KeyedMutex", () => {
  it("runs work for one key in order, one at a time, and other keys alongside", async () => {
    const m = new KeyedMutex();
    const log: string[] = [];
    const task = (key: string, name: string, ms: number) =>
      m.run(key, async () => {
        log.push(`start ${name}`);
        await new Promise((r) => setTimeout(r, ms));
        log.push(`end ${name}`);
      });
    await Promise.all([task("r1", "a", 20), task("r1", "b", 1), task("r2", "c", 1)]);
    assert.deepEqual(log.filter((l) => / [ab]$/.test(l)), ["start a", "end a", "start b", "end b"]);
    assert.ok(log.indexOf("end c") < log.indexOf("end a"), "another key did not wait");
  });
  it("keeps going after a failure", async () => {
    const m = new KeyedMutex();
    await assert.rejects(m.run("k", async () => { throw new Error("boom"); }), /boom/);
    assert.equal(await m.run("k", async () => 7), 7);
  });
});

describe("StreamIdGenerator", () => {
  it("only exposes a position once every smaller one has finished", () => {
    const g = new StreamIdGenerator(10);
    const a = g.next();
    const b = g.next();
    assert.deepEqual([a.id, b.id], [11, 12]);
    assert.equal(g.position, 10);
    b.finish(); // 12 committed before 11: readers must not step past 11 yet
    assert.equal(g.position, 10);
    a.finish();
    assert.equal(g.position, 12);
  });
});

describe("diffState", () => {
  it("lists set, replaced and removed keys", () => {
    const from = new Map([["a", "1"], ["b", "2"], ["c", "3"]]);
    const to = new Map([["a", "1"], ["b", "9"], ["d", "4"]]);
    const d = diffState(from, to);
    assert.deepEqual([...d.set].sort(), [["b", "9"], ["d", "4"]]);
    assert.deepEqual(d.removed, ["c"]);
  });
});

describe("JsonText and stringifyObject", () => {
  it("writes JsonText members verbatim and the rest as JSON.stringify would", () => {
    const value = { a: 1, skipped: undefined, p: new JsonText('{"events":[{"x":"é\\u0000"}]}'), s: "\u2028\"", n: null, o: { k: [true] } };
    const text = stringifyObject(value);
    assert.deepEqual(JSON.parse(text), { a: 1, p: { events: [{ x: "é\u0000" }] }, s: "\u2028\"", n: null, o: { k: [true] } });
    // Without the splicing, JSON.stringify gives the same value (JsonText.toJSON), only by re-encoding it.
    assert.deepEqual(JSON.parse(JSON.stringify(value)), JSON.parse(text));
    assert.equal(stringifyObject({}), "{}");
  });
});
