/**
 * A user's ruleset as the API shows it and the evaluator compiles it: the
 * server-default rules with the user's changes to them (enabled, actions),
 * and the user's own rules above the defaults of their kind, below only
 * .m.rule.master. Also the checks on rule bodies the API receives. Pure.
 */
import { MatrixError, invalidParam, missingParam } from "../http/errors.js";
import type { JsonObject, JsonValue } from "../room/types.js";
import { defaultPushRules, type PushRule, type PushRuleset } from "./default-rules.js";
import { RULE_KINDS, type RuleKind } from "./evaluator.js";

/** One of the user's own rules, as stored. */
export interface UserPushRule {
  readonly kind: RuleKind;
  readonly ruleId: string;
  /** Higher is more important within the kind. */
  readonly priority: number;
  readonly enabled: boolean;
  readonly actions: JsonValue[];
  readonly conditions?: JsonObject[];
  readonly pattern?: string;
}

/** The user's change to a server-default rule. */
export interface DefaultRuleChange {
  readonly kind: RuleKind;
  readonly ruleId: string;
  readonly enabled?: boolean;
  readonly actions?: JsonValue[];
}

const MASTER = ".m.rule.master";

export function isRuleKind(kind: string): kind is RuleKind {
  return (RULE_KINDS as readonly string[]).includes(kind);
}

export function assembleRuleset(userId: string, own: readonly UserPushRule[], changes: readonly DefaultRuleChange[]): PushRuleset {
  const defaults = defaultPushRules(userId);
  const changed = new Map(changes.map((c) => [`${c.kind}\u0000${c.ruleId}`, c]));
  const out = {} as PushRuleset;
  for (const kind of RULE_KINDS) {
    const base = defaults[kind].map((r): PushRule => {
      const c = changed.get(`${kind}\u0000${r.rule_id}`);
      return { ...r, enabled: c?.enabled ?? r.enabled, actions: c?.actions ?? r.actions };
    });
    const mine = own
      .filter((r) => r.kind === kind)
      .sort((a, b) => b.priority - a.priority)
      .map((r): PushRule => {
        const rule: PushRule = { rule_id: r.ruleId, default: false, enabled: r.enabled, actions: r.actions };
        if (kind === "override" || kind === "underride") rule.conditions = r.conditions ?? [];
        if (kind === "content") rule.pattern = r.pattern ?? "";
        return rule;
      });
    const master = base.filter((r) => r.rule_id === MASTER);
    out[kind] = [...master, ...mine, ...base.filter((r) => r.rule_id !== MASTER)];
  }
  return out;
}

/** The rule of `kind` named `ruleId` in the ruleset, if any. */
export function findRule(ruleset: PushRuleset, kind: RuleKind, ruleId: string): PushRule | undefined {
  return ruleset[kind].find((r) => r.rule_id === ruleId);
}

/** A rule id a client may create: not reserved for the server (leading dot), no slashes or backslashes. */
export function checkNewRuleId(ruleId: string): void {
  if (ruleId === "") throw invalidParam("The rule id is empty");
  if (ruleId.startsWith(".")) throw invalidParam("Rule ids starting with '.' are reserved for server-default rules");
  if (ruleId.includes("/") || ruleId.includes("\\")) throw invalidParam("Rule ids may not contain slashes or backslashes");
}

const ACTION_STRINGS = new Set(["notify", "dont_notify", "coalesce"]);

/** The `actions` of a request body, checked: known action strings, or tweaks ({set_tweak, value?}). */
export function parseActions(raw: unknown): JsonValue[] {
  if (raw === undefined || raw === null) throw missingParam("Missing actions");
  if (!Array.isArray(raw)) throw invalidParam("actions must be a list");
  for (const a of raw) {
    if (typeof a === "string") {
      if (!ACTION_STRINGS.has(a)) throw invalidParam(`Unknown action ${JSON.stringify(a)}`);
    } else if (a === null || typeof a !== "object" || Array.isArray(a) || typeof (a as JsonObject).set_tweak !== "string") {
      throw invalidParam("An action must be a string or an object with a set_tweak string");
    }
  }
  return raw as JsonValue[];
}

/** The `conditions` of an override or underride rule: objects with a string kind (unknown kinds are kept: they never match). */
export function parseConditions(raw: unknown): JsonObject[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw invalidParam("conditions must be a list");
  for (const c of raw) {
    if (c === null || typeof c !== "object" || Array.isArray(c) || typeof (c as JsonObject).kind !== "string") {
      throw invalidParam("A condition must be an object with a string kind");
    }
    const cond = c as JsonObject;
    for (const key of ["key", "pattern", "is"]) {
      if (cond[key] !== undefined && typeof cond[key] !== "string") throw invalidParam(`condition ${key} must be a string`);
    }
  }
  return raw as JsonObject[];
}

/** Where a new or moved rule goes among the user's rules of its kind (before/after name one of them). */
export function placeRule(
  ordered: readonly string[],
  ruleId: string,
  position: { before?: string; after?: string },
): string[] {
  const rest = ordered.filter((id) => id !== ruleId);
  const anchor = position.before ?? position.after;
  if (anchor === undefined) {
    // New rules go first; a rule updated in place keeps its place.
    const at = ordered.indexOf(ruleId);
    if (at < 0) return [ruleId, ...rest];
    return [...ordered];
  }
  if (anchor.startsWith(".")) throw new MatrixError(400, "M_UNKNOWN", `before/after cannot name a server-default rule: ${anchor}`);
  const idx = rest.indexOf(anchor);
  if (idx < 0) throw new MatrixError(400, "M_UNKNOWN", `before/after rule not found: ${anchor}`);
  // Most important first: `before` puts the rule just above its anchor, `after` just below; `before` wins when both are given.
  const at = position.before !== undefined ? idx : idx + 1;
  return [...rest.slice(0, at), ruleId, ...rest.slice(at)];
}
