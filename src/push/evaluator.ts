/**
 * Push rule evaluation (client-server API, push notifications: rules,
 * conditions, actions). Pure: a user's ruleset is compiled once into
 * closures (patterns into regular expressions, dotted keys into paths), and
 * evaluating an event is then a walk over them with no parsing and no I/O.
 *
 * The caller supplies what the rules may ask about the room (member count,
 * the sender's power, the levels notifications need) once per event, and
 * the user's display name only when a rule of theirs asks for it.
 */
import type { JsonObject, JsonValue } from "../room/types.js";
import type { PushRule, PushRuleset } from "./default-rules.js";

/** What an event's rules may look at, computed once per event for every recipient. */
export interface PushEventContext {
  /** The event as the rules see it: type, sender, room_id, state_key, content, event_id... */
  readonly event: JsonObject;
  /** Joined members of the room. */
  readonly memberCount: number;
  readonly senderPowerLevel: number;
  /** The level `notifications[key]` of the room's power levels requires (room: 50 by default). */
  readonly notificationLevel: (key: string) => number;
  /**
   * Answers of conditions that do not depend on the user, shared by every
   * recipient of the event: identical conditions are one object across
   * users' rulesets, so a 1,000-member room tests each pattern once.
   */
  readonly memo?: Map<Predicate, boolean>;
}

/** What one user's rules may look at beyond the event. */
export interface PushUserContext {
  /** The user's display name in the room, when their rules need it (`needsDisplayName`). */
  readonly displayName?: string;
}

export interface PushOutcome {
  readonly ruleId: string;
  readonly kind: RuleKind;
  /** The rule's actions, historical ones (dont_notify, coalesce) removed. */
  readonly actions: JsonValue[];
  readonly notify: boolean;
  readonly highlight: boolean;
  readonly tweaks: Record<string, JsonValue>;
}

export const RULE_KINDS = ["override", "content", "room", "sender", "underride"] as const;
export type RuleKind = (typeof RULE_KINDS)[number];

export type Predicate = (ev: PushEventContext, user: PushUserContext) => boolean;

interface CompiledRule {
  readonly ruleId: string;
  readonly kind: RuleKind;
  readonly matches: Predicate;
  readonly outcome: PushOutcome;
}

/** Split a dotted property path: `\.` is a literal dot, `\\` a backslash; other escapes stay as written. */
export function parseDottedKey(key: string): string[] {
  const parts: string[] = [];
  let current = "";
  for (let i = 0; i < key.length; i++) {
    const c = key[i];
    if (c === "\\" && (key[i + 1] === "." || key[i + 1] === "\\")) {
      current += key[i + 1];
      i++;
    } else if (c === ".") {
      parts.push(current);
      current = "";
    } else {
      current += c;
    }
  }
  parts.push(current);
  return parts;
}

function lookup(root: JsonObject, path: readonly string[]): JsonValue | undefined {
  let node: JsonValue | undefined = root;
  for (const p of path) {
    if (node === null || typeof node !== "object" || Array.isArray(node) || !Object.hasOwn(node, p)) return undefined;
    node = (node as JsonObject)[p];
  }
  return node;
}

const REGEX_SPECIAL = /[.*+?^${}()|[\]\\/]/g;

/** A glob (`*` any run, `?` one character) as the body of a regular expression. */
function globSource(glob: string): string {
  let out = "";
  for (const ch of glob) {
    if (ch === "*") out += "[\\s\\S]*";
    else if (ch === "?") out += "[\\s\\S]";
    else out += ch.replace(REGEX_SPECIAL, "\\$&");
  }
  return out;
}

/** The whole value must match, case-insensitively. */
export function globMatcher(glob: string): (value: string) => boolean {
  const re = new RegExp(`^${globSource(glob)}$`, "iu");
  return (value) => re.test(value);
}

/**
 * A match on any substring that starts and ends at a word boundary: the
 * ends of the value, or a character outside [A-Za-z0-9_] (content.body).
 */
export function wordMatcher(glob: string): (value: string) => boolean {
  const re = new RegExp(`(?<![A-Za-z0-9_])${globSource(glob)}(?![A-Za-z0-9_])`, "iu");
  return (value) => re.test(value);
}

/** Non-compound canonical JSON values: the only ones event_property_is/contains compare. */
function isScalar(v: JsonValue | undefined): v is string | number | boolean | null {
  if (v === null || typeof v === "string" || typeof v === "boolean") return true;
  return typeof v === "number" && Number.isSafeInteger(v);
}

const NEVER: Predicate = () => false;
const COUNT = /^(==|<=|>=|<|>)?([0-9]+)$/;

/** Conditions compiled once per server, by their JSON: the same condition in two rulesets is one predicate. */
const interned = new Map<string, Predicate>();
const INTERNED_MAX = 50_000;

function compileCondition(cond: JsonValue): Predicate {
  if (cond === null || typeof cond !== "object" || Array.isArray(cond)) return NEVER;
  const key = JSON.stringify(cond);
  let p = interned.get(key);
  if (!p) {
    const raw = compileConditionOnce(cond as JsonObject);
    // Only the display-name condition depends on who is asking; every other answer holds for the whole event.
    p = cond.kind === "contains_display_name" || raw === NEVER ? raw : memoised(raw);
    if (interned.size >= INTERNED_MAX) interned.clear();
    interned.set(key, p);
  }
  return p;
}

function memoised(raw: Predicate): Predicate {
  const p: Predicate = (ev, user) => {
    const memo = ev.memo;
    if (!memo) return raw(ev, user);
    const known = memo.get(p);
    if (known !== undefined) return known;
    const answer = raw(ev, user);
    memo.set(p, answer);
    return answer;
  };
  return p;
}

function compileConditionOnce(c: JsonObject): Predicate {
  switch (c.kind) {
    case "event_match": {
      if (typeof c.key !== "string" || typeof c.pattern !== "string") return NEVER;
      const path = parseDottedKey(c.key);
      const test = c.key === "content.body" ? wordMatcher(c.pattern) : globMatcher(c.pattern);
      return (ev) => {
        const v = lookup(ev.event, path);
        return typeof v === "string" && test(v);
      };
    }
    case "event_property_is": {
      if (typeof c.key !== "string" || !isScalar(c.value)) return NEVER;
      const path = parseDottedKey(c.key);
      const want = c.value;
      return (ev) => {
        const v = lookup(ev.event, path);
        return isScalar(v) && v === want;
      };
    }
    case "event_property_contains": {
      if (typeof c.key !== "string" || !isScalar(c.value)) return NEVER;
      const path = parseDottedKey(c.key);
      const want = c.value;
      return (ev) => {
        const v = lookup(ev.event, path);
        return Array.isArray(v) && v.some((x) => isScalar(x) && x === want);
      };
    }
    case "contains_display_name":
      return (ev, user) => {
        const body = lookup(ev.event, ["content", "body"]);
        const name = user.displayName;
        if (typeof body !== "string" || !name) return false;
        return displayNameMatcher(name)(body);
      };
    case "room_member_count": {
      const m = typeof c.is === "string" ? COUNT.exec(c.is) : null;
      if (!m) return NEVER;
      const n = Number(m[2]);
      switch (m[1] ?? "==") {
        case "==": return (ev) => ev.memberCount === n;
        case "<": return (ev) => ev.memberCount < n;
        case ">": return (ev) => ev.memberCount > n;
        case "<=": return (ev) => ev.memberCount <= n;
        default: return (ev) => ev.memberCount >= n;
      }
    }
    case "sender_notification_permission": {
      if (typeof c.key !== "string") return NEVER;
      const key = c.key;
      return (ev) => ev.senderPowerLevel >= ev.notificationLevel(key);
    }
    default:
      // Unrecognised conditions never match, which disables their rule.
      return NEVER;
  }
}

/** Display names are matched literally (no glob) at word boundaries; a few are asked about often. */
const displayNameMatchers = new Map<string, (v: string) => boolean>();
function displayNameMatcher(name: string): (v: string) => boolean {
  let m = displayNameMatchers.get(name);
  if (!m) {
    const re = new RegExp(`(?<![A-Za-z0-9_])${name.replace(REGEX_SPECIAL, "\\$&")}(?![A-Za-z0-9_])`, "iu");
    m = (v) => re.test(v);
    if (displayNameMatchers.size > 10_000) displayNameMatchers.clear();
    displayNameMatchers.set(name, m);
  }
  return m;
}

const HISTORICAL_ACTIONS = new Set(["dont_notify", "coalesce"]);

/** The actions a rule really has: dont_notify and coalesce are ignored, as the spec says. */
export function effectiveActions(actions: readonly JsonValue[]): JsonValue[] {
  return actions.filter((a) => !(typeof a === "string" && HISTORICAL_ACTIONS.has(a)));
}

/** The tweaks a list of actions sets (what a push gateway is sent with the notification). */
export function tweaksOf(actions: readonly JsonValue[]): Record<string, JsonValue> {
  const tweaks: Record<string, JsonValue> = {};
  for (const a of actions) {
    if (a !== null && typeof a === "object" && !Array.isArray(a) && typeof a.set_tweak === "string") {
      // A highlight tweak without a value means true.
      tweaks[a.set_tweak] = a.value === undefined ? (a.set_tweak === "highlight" ? true : null) : a.value;
    }
  }
  return tweaks;
}

function outcomeOf(ruleId: string, kind: RuleKind, rawActions: readonly JsonValue[]): PushOutcome {
  const actions = effectiveActions(rawActions);
  const tweaks = tweaksOf(actions);
  return {
    ruleId,
    kind,
    actions,
    notify: actions.includes("notify"),
    highlight: tweaks.highlight === true,
    tweaks,
  };
}

function rulePredicate(kind: RuleKind, rule: PushRule): Predicate {
  switch (kind) {
    case "content":
      // The same test as event_match on content.body (word boundaries), shared with identical rules.
      return typeof rule.pattern === "string" ? compileCondition({ kind: "event_match", key: "content.body", pattern: rule.pattern }) : NEVER;
    case "room":
      return (ev) => ev.event.room_id === rule.rule_id;
    case "sender":
      return (ev) => ev.event.sender === rule.rule_id;
    default: {
      const conds = (rule.conditions ?? []).map(compileCondition);
      return (ev, user) => {
        for (const c of conds) if (!c(ev, user)) return false;
        return true;
      };
    }
  }
}

/** A user's ruleset, compiled once and evaluated for each event they may be told about. */
export class CompiledRules {
  private readonly rules: CompiledRule[] = [];
  /** Whether any enabled rule needs the user's display name in the room (contains_display_name). */
  readonly needsDisplayName: boolean;

  constructor(ruleset: PushRuleset) {
    let needsName = false;
    for (const kind of RULE_KINDS) {
      for (const rule of ruleset[kind]) {
        if (!rule.enabled) continue;
        if ((rule.conditions ?? []).some((c) => (c as JsonObject | null)?.kind === "contains_display_name")) needsName = true;
        this.rules.push({ ruleId: rule.rule_id, kind, matches: rulePredicate(kind, rule), outcome: outcomeOf(rule.rule_id, kind, rule.actions) });
      }
    }
    this.needsDisplayName = needsName;
  }

  /** The outcome of the first (most important) enabled rule that matches, or undefined if none does. */
  evaluate(ev: PushEventContext, user: PushUserContext = {}): PushOutcome | undefined {
    for (const r of this.rules) if (r.matches(ev, user)) return r.outcome;
    return undefined;
  }
}
