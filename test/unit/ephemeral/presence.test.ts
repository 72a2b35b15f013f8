import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { PresenceTracker } from "../../../src/ephemeral/presence.js";

describe("PresenceTracker", () => {
  it("lists changes after a position, each user once, oldest first", () => {
    const p = new PresenceTracker(() => 1_000);
    p.set("@a:x", "online");
    p.set("@b:x", "online");
    const mark = p.position;
    p.set("@a:x", "unavailable");
    p.set("@c:x", "online");
    p.set("@a:x", "unavailable"); // no change: not a new position
    assert.deepEqual([...p.changedSince(mark)].map((r) => [r.userId, r.presence]), [["@a:x", "unavailable"], ["@c:x", "online"]]);
    assert.deepEqual([...p.changedSince(0)].map((r) => r.userId), ["@b:x", "@a:x", "@c:x"]);
    assert.deepEqual([...p.changedSince(p.position)], []);
  });

  it("shares an event's text for a second, then writes it afresh; a change writes it at once", () => {
    let now = 10_000;
    const p = new PresenceTracker(() => now);
    p.set("@a:x", "online");
    const first = p.eventText(p.get("@a:x")!);
    assert.deepEqual(JSON.parse(first), { type: "m.presence", sender: "@a:x", content: { presence: "online", last_active_ago: 0, currently_active: true } });
    now += 500;
    assert.equal(p.eventText(p.get("@a:x")!), first);
    now += 600;
    assert.equal(JSON.parse(p.eventText(p.get("@a:x")!)).content.last_active_ago, 1_100);
    p.set("@a:x", "unavailable", "lunch"); // going away keeps the time of the last activity
    assert.deepEqual(JSON.parse(p.eventText(p.get("@a:x")!)).content, { presence: "unavailable", status_msg: "lunch", last_active_ago: 1_100, currently_active: false });
  });
});
