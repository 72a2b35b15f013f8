/**
 * The push rule evaluator, condition kind by condition kind, and the
 * server-default ruleset end to end (the spec's examples where it has them).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { defaultPushRules, type PushRule, type PushRuleset } from "../../../src/push/default-rules.js";
import {
  CompiledRules, effectiveActions, globMatcher, parseDottedKey, wordMatcher, type PushEventContext,
} from "../../../src/push/evaluator.js";
import type { JsonObject } from "../../../src/room/types.js";

const ME = "@me:example.org";

function ctx(event: JsonObject, more: Partial<PushEventContext> = {}): PushEventContext {
  return {
    event: { type: "m.room.message", sender: "@other:example.org", room_id: "!r:example.org", event_id: "$e", ...event },
    memberCount: 5,
    senderPowerLevel: 0,
    notificationLevel: () => 50,
    ...more,
  };
}

function only(rule: Partial<PushRule> & { conditions?: JsonObject[] }, kind: keyof PushRuleset = "override"): CompiledRules {
  const set: PushRuleset = { override: [], content: [], room: [], sender: [], underride: [] };
  set[kind].push({ rule_id: "r", default: false, enabled: true, actions: ["notify"], ...rule });
  return new CompiledRules(set);
}

const matches = (rules: CompiledRules, c: PushEventContext, displayName?: string) => rules.evaluate(c, { displayName }) !== undefined;

describe("dotted keys", () => {
  it("split on dots, with \\. a literal dot and \\\\ a backslash; other escapes stay", () => {
    assert.deepEqual(parseDottedKey("content.body"), ["content", "body"]);
    assert.deepEqual(parseDottedKey("content.m\\.relates_to.rel_type"), ["content", "m.relates_to", "rel_type"]);
    assert.deepEqual(parseDottedKey("content.m\\\\foo"), ["content", "m\\foo"]);
    assert.deepEqual(parseDottedKey("content.m\\x"), ["content", "m\\x"]);
  });
});

describe("event_match", () => {
  const topic = only({ conditions: [{ kind: "event_match", key: "content.topic", pattern: "lunc?*" }] });
  it("matches the whole value, case-insensitively (the spec's example)", () => {
    assert.ok(matches(topic, ctx({ content: { topic: "Lunch plans" } })));
    assert.ok(matches(topic, ctx({ content: { topic: "LUNCH" } })));
    assert.ok(!matches(topic, ctx({ content: { topic: " lunch" } })));
    assert.ok(!matches(topic, ctx({ content: { topic: "lunc" } })));
    assert.ok(!matches(topic, ctx({ content: { topic: null } })));
    assert.ok(!matches(topic, ctx({ content: {} })));
  });
  it("never matches a missing or non-string value, even with *", () => {
    const any = only({ conditions: [{ kind: "event_match", key: "content.n", pattern: "*" }] });
    assert.ok(!matches(any, ctx({ content: { n: 1 } })));
    assert.ok(!matches(any, ctx({ content: {} })));
    assert.ok(matches(any, ctx({ content: { n: "" } })));
  });
  it("content.body matches any substring at word boundaries (the spec's example)", () => {
    const body = only({ conditions: [{ kind: "event_match", key: "content.body", pattern: "ex*ple" }] });
    assert.ok(matches(body, ctx({ content: { body: "An example event." } })));
    assert.ok(matches(body, ctx({ content: { body: "exple" } })));
    assert.ok(matches(body, ctx({ content: { body: "An exciting triple-whammy" } })));
    assert.ok(!matches(body, ctx({ content: { body: "texample" } })));
    assert.ok(!matches(body, ctx({ content: { body: "example_x" } })));
  });
  it("globs treat regular-expression characters literally", () => {
    assert.ok(globMatcher("a.b")("A.B"));
    assert.ok(!globMatcher("a.b")("axb"));
    assert.ok(wordMatcher("c++")("I like c++ a lot"));
    assert.ok(globMatcher("[x]")("[x]"));
  });
  it("dotted keys with escaped dots reach properties named with dots", () => {
    const r = only({ conditions: [{ kind: "event_match", key: "content.m\\.relates_to.rel_type", pattern: "m.thread" }] });
    assert.ok(matches(r, ctx({ content: { "m.relates_to": { rel_type: "m.thread" } } })));
    assert.ok(!matches(r, ctx({ content: { m: { relates_to: { rel_type: "m.thread" } } } })));
  });
});

describe("event_property_is", () => {
  const fed = only({ conditions: [{ kind: "event_property_is", key: "content.m\\.federate", value: true }] });
  it("matches exactly, without casting (the spec's example)", () => {
    assert.ok(matches(fed, ctx({ content: { "m.federate": true } })));
    assert.ok(!matches(fed, ctx({ content: { "m.federate": "true" } })));
    assert.ok(!matches(fed, ctx({ content: { "m.federate": 1 } })));
    assert.ok(!matches(fed, ctx({ content: {} })));
  });
  it("matches null and integers, never compound values", () => {
    assert.ok(matches(only({ conditions: [{ kind: "event_property_is", key: "content.x", value: null }] }), ctx({ content: { x: null } })));
    assert.ok(!matches(only({ conditions: [{ kind: "event_property_is", key: "content.x", value: null }] }), ctx({ content: {} })));
    assert.ok(matches(only({ conditions: [{ kind: "event_property_is", key: "content.x", value: 3 }] }), ctx({ content: { x: 3 } })));
    assert.ok(!matches(only({ conditions: [{ kind: "event_property_is", key: "content.x", value: [1] }] }), ctx({ content: { x: [1] } })));
  });
});

describe("event_property_contains", () => {
  const alias = only({ conditions: [{ kind: "event_property_contains", key: "content.alt_aliases", value: "#myroom:example.com" }] });
  it("matches an array holding the value exactly (the spec's example)", () => {
    assert.ok(matches(alias, ctx({ content: { alt_aliases: ["#somewhere:example.org", "#myroom:example.com"] } })));
    assert.ok(!matches(alias, ctx({ content: { alt_aliases: [":example.com"] } })));
    assert.ok(!matches(alias, ctx({ content: { alt_aliases: "#myroom:example.com" } })));
    assert.ok(!matches(alias, ctx({ content: {} })));
  });
});

describe("contains_display_name", () => {
  const r = only({ conditions: [{ kind: "contains_display_name" }] });
  it("matches the user's display name in the body at word boundaries", () => {
    assert.ok(r.needsDisplayName);
    assert.ok(matches(r, ctx({ content: { body: "hello Alice!" } }), "alice"));
    assert.ok(!matches(r, ctx({ content: { body: "hello Alicee" } }), "alice"));
    assert.ok(!matches(r, ctx({ content: { body: "hello" } })), "no display name: no match");
    assert.ok(matches(r, ctx({ content: { body: "ping a.b*c" } }), "a.b*c"), "names match literally");
    assert.ok(!matches(r, ctx({ content: { body: "ping aXbbc" } }), "a.b*c"));
  });
});

describe("room_member_count", () => {
  const at = (is: string, n: number) => matches(only({ conditions: [{ kind: "room_member_count", is }] }), ctx({}, { memberCount: n }));
  it("compares with ==, <, >, <=, >= (== when no prefix)", () => {
    assert.ok(at("2", 2) && !at("2", 3));
    assert.ok(at("==2", 2) && !at("==2", 1));
    assert.ok(at("<3", 2) && !at("<3", 3));
    assert.ok(at(">3", 4) && !at(">3", 3));
    assert.ok(at("<=3", 3) && !at("<=3", 4));
    assert.ok(at(">=3", 3) && !at(">=3", 2));
  });
  it("never matches a malformed `is`", () => {
    assert.ok(!at("=2", 2));
    assert.ok(!at("two", 2));
    assert.ok(!at("", 2));
  });
});

describe("sender_notification_permission", () => {
  const r = only({ conditions: [{ kind: "sender_notification_permission", key: "room" }] });
  it("needs the sender's power to reach the notification level", () => {
    assert.ok(matches(r, ctx({}, { senderPowerLevel: 50 })));
    assert.ok(!matches(r, ctx({}, { senderPowerLevel: 49 })));
    assert.ok(matches(r, ctx({}, { senderPowerLevel: 10, notificationLevel: (k) => (k === "room" ? 10 : 50) })));
    assert.ok(matches(r, ctx({}, { senderPowerLevel: Infinity })));
  });
});

describe("rules", () => {
  it("unknown condition kinds disable their rule", () => {
    assert.ok(!matches(only({ conditions: [{ kind: "org.example.whatever" }] }), ctx({})));
  });
  it("a rule without conditions matches everything; a disabled rule nothing", () => {
    assert.ok(matches(only({ conditions: [] }), ctx({})));
    assert.ok(!matches(only({ conditions: [], enabled: false }), ctx({})));
  });
  it("content rules match the body at word boundaries; room and sender rules their id", () => {
    assert.ok(matches(only({ pattern: "cake" }, "content"), ctx({ content: { body: "I like Cake." } })));
    assert.ok(!matches(only({ pattern: "cake" }, "content"), ctx({ content: { body: "cakes" } })));
    assert.ok(matches(only({ rule_id: "!r:example.org" }, "room"), ctx({})));
    assert.ok(!matches(only({ rule_id: "!x:example.org" }, "room"), ctx({})));
    assert.ok(matches(only({ rule_id: "@other:example.org" }, "sender"), ctx({})));
  });
  it("historical actions are ignored: dont_notify is the same as no actions", () => {
    assert.deepEqual(effectiveActions(["dont_notify", "coalesce"]), []);
    const out = only({ conditions: [], actions: ["dont_notify"] }).evaluate(ctx({}));
    assert.equal(out?.notify, false);
  });
  it("a highlight tweak without a value is true; with false it is not", () => {
    assert.equal(only({ conditions: [], actions: ["notify", { set_tweak: "highlight" }] }).evaluate(ctx({}))?.highlight, true);
    assert.equal(only({ conditions: [], actions: ["notify", { set_tweak: "highlight", value: false }] }).evaluate(ctx({}))?.highlight, false);
  });
});

describe("answers shared across the recipients of one event", () => {
  it("each user's own conditions stay theirs; the display-name condition is asked per user", () => {
    const alice = new CompiledRules(defaultPushRules("@alice:x"));
    const bob = new CompiledRules(defaultPushRules("@bob:x"));
    const shared = ctx({ content: { body: "hi", "m.mentions": { user_ids: ["@bob:x"] } } }, { memo: new Map() });
    assert.equal(alice.evaluate(shared)?.ruleId, ".m.rule.message");
    assert.equal(bob.evaluate(shared)?.ruleId, ".m.rule.is_user_mention");
    const byName = only({ conditions: [{ kind: "contains_display_name" }] });
    const named = ctx({ content: { body: "hello Alice" } }, { memo: new Map() });
    assert.ok(byName.evaluate(named, { displayName: "Alice" }));
    assert.ok(!byName.evaluate(named, { displayName: "Bob" }));
    // A new event starts with nothing remembered.
    assert.equal(alice.evaluate(ctx({ type: "m.room.topic", state_key: "", content: {} }, { memo: new Map() })), undefined);
  });
});

describe("the server-default rules", () => {
  const rules = new CompiledRules(defaultPushRules(ME));
  const ev = (e: JsonObject, more: Partial<PushEventContext> = {}) => rules.evaluate(ctx(e, more));

  it("a message notifies without highlight; in a two-member room it also sounds", () => {
    assert.deepEqual([ev({ content: { msgtype: "m.text", body: "hi" } })?.ruleId, ev({ content: { body: "hi" } })?.highlight], [".m.rule.message", false]);
    const dm = ev({ content: { body: "hi" } }, { memberCount: 2 });
    assert.equal(dm?.ruleId, ".m.rule.room_one_to_one");
    assert.equal(dm?.tweaks.sound, "default");
  });
  it("mentions of the user highlight (m.mentions)", () => {
    const out = ev({ content: { body: "hey", "m.mentions": { user_ids: [ME] } } });
    assert.equal(out?.ruleId, ".m.rule.is_user_mention");
    assert.ok(out?.notify && out.highlight);
    // A body naming the user without m.mentions is an ordinary message (no legacy body rules since v1.17).
    assert.equal(ev({ content: { body: `hey ${ME}` } })?.highlight, false);
  });
  it("room mentions highlight only from senders with the power to notify the room", () => {
    assert.equal(ev({ content: { body: "all", "m.mentions": { room: true } } }, { senderPowerLevel: 50 })?.ruleId, ".m.rule.is_room_mention");
    assert.equal(ev({ content: { body: "all", "m.mentions": { room: true } } }, { senderPowerLevel: 0 })?.ruleId, ".m.rule.message");
  });
  it("notices, edits, reactions, member events and ACLs are silent; invites for me are not", () => {
    assert.equal(ev({ content: { msgtype: "m.notice", body: "bot" } })?.notify, false);
    assert.equal(ev({ content: { body: "* fix", "m.relates_to": { rel_type: "m.replace", event_id: "$x" } } })?.ruleId, ".m.rule.suppress_edits");
    assert.equal(ev({ type: "m.reaction", content: {} })?.notify, false);
    assert.equal(ev({ type: "m.room.member", state_key: "@x:example.org", content: { membership: "join" } })?.notify, false);
    assert.equal(ev({ type: "m.room.server_acl", state_key: "", content: {} })?.notify, false);
    const invite = ev({ type: "m.room.member", state_key: ME, content: { membership: "invite" } });
    assert.equal(invite?.ruleId, ".m.rule.invite_for_me");
    assert.ok(invite?.notify);
  });
  it("encrypted events notify (one-to-one with sound), calls ring, tombstones highlight", () => {
    assert.equal(ev({ type: "m.room.encrypted", content: {} })?.ruleId, ".m.rule.encrypted");
    assert.equal(ev({ type: "m.room.encrypted", content: {} }, { memberCount: 2 })?.ruleId, ".m.rule.encrypted_room_one_to_one");
    assert.equal(ev({ type: "m.call.invite", content: {} })?.tweaks.sound, "ring");
    assert.equal(ev({ type: "m.room.tombstone", state_key: "", content: {} })?.highlight, true);
  });
  it("other events match nothing", () => {
    assert.equal(ev({ type: "m.room.topic", state_key: "", content: { topic: "x" } }), undefined);
  });
});
