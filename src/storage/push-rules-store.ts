/**
 * Each user's push rules (migrations/0011_push.ts): their own rules and
 * their changes to the server-default ones, assembled into the ruleset the
 * API shows, and compiled once for evaluation (a bounded cache, dropped for
 * a user once a change of theirs commits).
 *
 * Changes for one user run one at a time (a per-user lock), so two clients
 * reordering rules at once never interleave; each commits in one
 * transaction, and then the new ruleset is published as the user's
 * m.push_rules account data, which /sync streams.
 */
import type { Knex } from "knex";
import { notFound } from "../http/errors.js";
import type { JsonObject, JsonValue } from "../room/types.js";
import type { PushRule, PushRuleset } from "../push/default-rules.js";
import { CompiledRules, type RuleKind } from "../push/evaluator.js";
import {
  assembleRuleset, findRule, placeRule, type DefaultRuleChange, type UserPushRule,
} from "../push/ruleset.js";
import { Lru } from "../util/lru.js";
import { KeyedMutex } from "../util/keyed-mutex.js";
import type { AccountDataStore } from "./account-data-store.js";
import type { Database } from "./database.js";

interface RuleRow {
  user_id: string;
  kind: RuleKind;
  rule_id: string;
  priority: number;
  enabled: number | boolean;
  actions: string;
  conditions: string | null;
  pattern: string | null;
}

interface ChangeRow {
  user_id: string;
  kind: RuleKind;
  rule_id: string;
  enabled: number | boolean | null;
  actions: string | null;
}

export interface NewRule {
  readonly actions: JsonValue[];
  readonly conditions?: JsonObject[];
  readonly pattern?: string;
}

/** SQLite allows a bounded number of bound variables per statement. */
const IN_CHUNK = 500;

export class PushRulesStore {
  private readonly compiled: Lru<string, CompiledRules>;
  private readonly locks = new KeyedMutex();
  /** Bumped per user on each change, so a compile that raced a change is not cached. */
  private readonly versions = new Map<string, number>();

  constructor(
    private readonly db: Database,
    private readonly accountData: AccountDataStore,
    cacheSize: number,
  ) {
    this.compiled = new Lru(cacheSize);
  }

  async ruleset(userId: string, trx?: Knex): Promise<PushRuleset> {
    const q = trx ?? this.db.knex;
    const [rules, changes] = await Promise.all([
      q("push_rules").where({ user_id: userId }).select<RuleRow[]>("*"),
      q("push_rule_changes").where({ user_id: userId }).select<ChangeRow[]>("*"),
    ]);
    return assembleRuleset(userId, rules.map(ruleOf), changes.map(changeOf));
  }

  /**
   * Compiled rules for each of `userIds`: from the cache, the rest read in
   * one query per table (inside `trx` when given: the persist transaction
   * must not wait for a second connection).
   */
  async compiledFor(userIds: readonly string[], trx?: Knex): Promise<Map<string, CompiledRules>> {
    const out = new Map<string, CompiledRules>();
    const missing: string[] = [];
    for (const u of userIds) {
      const hit = this.compiled.get(u);
      if (hit) out.set(u, hit);
      else missing.push(u);
    }
    if (missing.length === 0) return out;
    const q = trx ?? this.db.knex;
    const versions = new Map(missing.map((u) => [u, this.versions.get(u) ?? 0]));
    const rules = new Map<string, UserPushRule[]>();
    const changes = new Map<string, DefaultRuleChange[]>();
    for (let i = 0; i < missing.length; i += IN_CHUNK) {
      const chunk = missing.slice(i, i + IN_CHUNK);
      for (const r of await q("push_rules").whereIn("user_id", chunk).select<RuleRow[]>("*")) {
        rules.set(r.user_id, [...(rules.get(r.user_id) ?? []), ruleOf(r)]);
      }
      for (const c of await q("push_rule_changes").whereIn("user_id", chunk).select<ChangeRow[]>("*")) {
        changes.set(c.user_id, [...(changes.get(c.user_id) ?? []), changeOf(c)]);
      }
    }
    for (const u of missing) {
      const compiled = new CompiledRules(assembleRuleset(u, rules.get(u) ?? [], changes.get(u) ?? []));
      out.set(u, compiled);
      // A change that committed while we read may be missing from what we read: use it once, keep nothing.
      if ((this.versions.get(u) ?? 0) === versions.get(u)) this.compiled.set(u, compiled);
    }
    return out;
  }

  /** Add or update one of the user's own rules, placed per before/after. */
  async put(userId: string, kind: RuleKind, ruleId: string, rule: NewRule, position: { before?: string; after?: string }): Promise<void> {
    await this.change(userId, async (trx) => {
      const existing = await trx("push_rules").where({ user_id: userId, kind }).orderBy("priority", "desc").select<RuleRow[]>("rule_id", "enabled");
      const order = placeRule(existing.map((r) => r.rule_id), ruleId, position);
      const current = existing.find((r) => r.rule_id === ruleId);
      await trx("push_rules")
        .insert({
          user_id: userId, kind, rule_id: ruleId, priority: order.length - order.indexOf(ruleId),
          // New rules are enabled; an update keeps whether the rule was.
          enabled: current ? (Boolean(current.enabled) ? 1 : 0) : 1,
          actions: JSON.stringify(rule.actions),
          conditions: kind === "override" || kind === "underride" ? JSON.stringify(rule.conditions ?? []) : null,
          pattern: kind === "content" ? rule.pattern ?? null : null,
        })
        .onConflict(["user_id", "kind", "rule_id"])
        .merge(["priority", "enabled", "actions", "conditions", "pattern"]);
      // Renumber so priorities follow the new order (lists are short: a user's own rules of one kind).
      for (let i = 0; i < order.length; i++) {
        if (order[i] === ruleId) continue;
        await trx("push_rules").where({ user_id: userId, kind, rule_id: order[i] }).update({ priority: order.length - i });
      }
    });
  }

  /**
   * A room upgrade carries the user's rules for the old room over to the
   * new one (as Synapse does when they join it): the room rule named after
   * it, and override/underride rules matching its room_id, copied with the
   * new id. Rules the user already has for the new room are left alone.
   */
  async copyRoomRules(userId: string, oldRoomId: string, newRoomId: string): Promise<void> {
    const own = (await this.db.knex("push_rules").where({ user_id: userId }).select<RuleRow[]>("*")).map(ruleOf);
    const copies: { kind: RuleKind; ruleId: string; rule: NewRule; enabled: boolean }[] = [];
    for (const r of own) {
      if (r.kind === "room" && r.ruleId === oldRoomId) {
        copies.push({ kind: "room", ruleId: newRoomId, rule: { actions: r.actions }, enabled: r.enabled });
        continue;
      }
      if ((r.kind === "override" || r.kind === "underride") && r.conditions?.some((c) => c.key === "room_id" && c.pattern === oldRoomId)) {
        const conditions = r.conditions.map((c) => (c.key === "room_id" && c.pattern === oldRoomId ? { ...c, pattern: newRoomId } : c));
        copies.push({ kind: r.kind, ruleId: r.ruleId.split(oldRoomId).join(newRoomId), rule: { actions: r.actions, conditions }, enabled: r.enabled });
      }
    }
    for (const c of copies) {
      if (own.some((r) => r.kind === c.kind && r.ruleId === c.ruleId)) continue;
      await this.put(userId, c.kind, c.ruleId, c.rule, {});
      if (!c.enabled) await this.setEnabled(userId, c.kind, c.ruleId, false);
    }
  }

  /** Delete one of the user's own rules; 404 if there is none. (Server-default rules are refused by the caller.) */
  async delete(userId: string, kind: RuleKind, ruleId: string): Promise<void> {
    await this.change(userId, async (trx) => {
      const n = await trx("push_rules").where({ user_id: userId, kind, rule_id: ruleId }).del();
      if (n === 0) throw notFound("The push rule was not found.");
    });
  }

  async setEnabled(userId: string, kind: RuleKind, ruleId: string, enabled: boolean): Promise<void> {
    await this.modify(userId, kind, ruleId, { enabled });
  }

  async setActions(userId: string, kind: RuleKind, ruleId: string, actions: JsonValue[]): Promise<void> {
    await this.modify(userId, kind, ruleId, { actions });
  }

  private async modify(userId: string, kind: RuleKind, ruleId: string, what: { enabled?: boolean; actions?: JsonValue[] }): Promise<void> {
    await this.change(userId, async (trx) => {
      const rule = findRule(await this.ruleset(userId, trx), kind, ruleId);
      if (!rule) throw notFound("The push rule was not found.");
      if (!rule.default) {
        const update: Record<string, unknown> = {};
        if (what.enabled !== undefined) update.enabled = what.enabled ? 1 : 0;
        if (what.actions !== undefined) update.actions = JSON.stringify(what.actions);
        await trx("push_rules").where({ user_id: userId, kind, rule_id: ruleId }).update(update);
        return;
      }
      const row = await trx("push_rule_changes").where({ user_id: userId, kind, rule_id: ruleId }).first<ChangeRow | undefined>("*");
      const enabled = what.enabled ?? (row?.enabled === null || row?.enabled === undefined ? null : Boolean(row.enabled));
      const actions = what.actions !== undefined ? JSON.stringify(what.actions) : row?.actions ?? null;
      await trx("push_rule_changes")
        .insert({ user_id: userId, kind, rule_id: ruleId, enabled: enabled === null ? null : enabled ? 1 : 0, actions })
        .onConflict(["user_id", "kind", "rule_id"])
        .merge(["enabled", "actions"]);
    });
  }

  /** One change: under the user's lock, in one transaction; then the cache is dropped and the ruleset published. */
  private async change(userId: string, work: (trx: Knex.Transaction) => Promise<void>): Promise<void> {
    await this.locks.run(userId, async () => {
      try {
        await this.db.knex.transaction(work);
      } finally {
        // Dropped whether it committed or not: a cached compile is only ever a copy of what is stored.
        this.versions.set(userId, (this.versions.get(userId) ?? 0) + 1);
        this.compiled.delete(userId);
      }
      await this.accountData.put(userId, null, "m.push_rules", { global: (await this.ruleset(userId)) as unknown as JsonValue });
    });
  }
}

function ruleOf(r: RuleRow): UserPushRule {
  return {
    kind: r.kind,
    ruleId: r.rule_id,
    priority: Number(r.priority),
    enabled: Boolean(r.enabled),
    actions: JSON.parse(r.actions) as JsonValue[],
    conditions: r.conditions === null ? undefined : (JSON.parse(r.conditions) as JsonObject[]),
    pattern: r.pattern ?? undefined,
  };
}

function changeOf(c: ChangeRow): DefaultRuleChange {
  return {
    kind: c.kind,
    ruleId: c.rule_id,
    enabled: c.enabled === null ? undefined : Boolean(c.enabled),
    actions: c.actions === null ? undefined : (JSON.parse(c.actions) as JsonValue[]),
  };
}

export type { PushRule };
