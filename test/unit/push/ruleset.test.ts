/**
 * Assembling a user's ruleset (own rules above the defaults, master first)
 * and placing rules with before/after.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { MatrixError } from "../../../src/http/errors.js";
import { assembleRuleset, checkNewRuleId, parseActions, parseConditions, placeRule } from "../../../src/push/ruleset.js";

describe("assembleRuleset", () => {
  it("puts the user's rules above the defaults of their kind, below only .m.rule.master", () => {
    const set = assembleRuleset("@u:x", [
      { kind: "override", ruleId: "low", priority: 1, enabled: true, actions: [] , conditions: [] },
      { kind: "override", ruleId: "high", priority: 2, enabled: false, actions: ["notify"], conditions: [] },
      { kind: "content", ruleId: "cake", priority: 1, enabled: true, actions: ["notify"], pattern: "cake" },
    ], [{ kind: "override", ruleId: ".m.rule.master", enabled: true }, { kind: "underride", ruleId: ".m.rule.message", actions: [] }]);
    assert.deepEqual(set.override.slice(0, 4).map((r) => r.rule_id), [".m.rule.master", "high", "low", ".m.rule.suppress_notices"]);
    assert.equal(set.override[0].enabled, true);
    assert.equal(set.override[1].enabled, false);
    assert.deepEqual(set.content, [{ rule_id: "cake", default: false, enabled: true, actions: ["notify"], pattern: "cake" }]);
    assert.deepEqual(set.underride.find((r) => r.rule_id === ".m.rule.message")?.actions, []);
  });
});

describe("placeRule", () => {
  const order = ["a", "b", "c"];
  it("puts new rules first, keeps updated ones in place", () => {
    assert.deepEqual(placeRule(order, "n", {}), ["n", "a", "b", "c"]);
    assert.deepEqual(placeRule(order, "b", {}), ["a", "b", "c"]);
  });
  it("before puts the rule just above its anchor, after just below; before wins", () => {
    assert.deepEqual(placeRule(order, "n", { before: "b" }), ["a", "n", "b", "c"]);
    assert.deepEqual(placeRule(order, "n", { after: "b" }), ["a", "b", "n", "c"]);
    assert.deepEqual(placeRule(order, "a", { after: "c" }), ["b", "c", "a"]);
    assert.deepEqual(placeRule(order, "n", { before: "a", after: "c" }), ["n", "a", "b", "c"]);
  });
  it("refuses anchors that are unknown or server-default (400 M_UNKNOWN)", () => {
    for (const pos of [{ before: "zz" }, { after: ".m.rule.master" }]) {
      assert.throws(() => placeRule(order, "n", pos), (e: unknown) => e instanceof MatrixError && e.status === 400 && e.errcode === "M_UNKNOWN");
    }
  });
});

describe("request checks", () => {
  const bad = (fn: () => unknown, errcode: string) =>
    assert.throws(fn, (e: unknown) => e instanceof MatrixError && e.status === 400 && e.errcode === errcode);
  it("rule ids: no leading dot, no slashes", () => {
    bad(() => checkNewRuleId(".mine"), "M_INVALID_PARAM");
    bad(() => checkNewRuleId("a/b"), "M_INVALID_PARAM");
    bad(() => checkNewRuleId("a\\b"), "M_INVALID_PARAM");
    checkNewRuleId("fine");
  });
  it("actions: strings notify/dont_notify/coalesce or tweak objects", () => {
    bad(() => parseActions(undefined), "M_MISSING_PARAM");
    bad(() => parseActions("notify"), "M_INVALID_PARAM");
    bad(() => parseActions(["shout"]), "M_INVALID_PARAM");
    bad(() => parseActions([{ value: 1 }]), "M_INVALID_PARAM");
    assert.deepEqual(parseActions(["notify", { set_tweak: "sound", value: "x" }]), ["notify", { set_tweak: "sound", value: "x" }]);
  });
  it("conditions: objects with a string kind", () => {
    bad(() => parseConditions({}), "M_INVALID_PARAM");
    bad(() => parseConditions([{ key: "x" }]), "M_INVALID_PARAM");
    bad(() => parseConditions([{ kind: "event_match", key: 3 }]), "M_INVALID_PARAM");
    assert.deepEqual(parseConditions(undefined), []);
  });
});
