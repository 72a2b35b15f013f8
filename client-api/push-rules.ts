/**
 * Push rules (client-server API, push notifications: push rules API): the
 * ruleset, one rule, adding and moving rules (before/after), deleting the
 * user's own rules, and a rule's enabled flag and actions (server-default
 * rules included). Every change is published as m.push_rules account data.
 */
import type Router from "@koa/router";
import type { Context } from "koa";
import type { ServerContext } from "../src/context.js";
import { requireUser } from "../src/http/auth.js";
import { readJsonObject } from "../src/http/body.js";
import { MatrixError, invalidParam, missingParam, notFound } from "../src/http/errors.js";
import type { RuleKind } from "../src/push/evaluator.js";
import { checkNewRuleId, findRule, isRuleKind, parseActions, parseConditions } from "../src/push/ruleset.js";

const PREFIX = "/_matrix/client/v3/pushrules";

function scopeAndKind(ctx: Context): RuleKind {
  const { scope, kind } = ctx.params as { scope: string; kind: string };
  if (scope !== "global") throw invalidParam(`Unknown push rule scope ${scope}: only global is supported`);
  if (!isRuleKind(kind)) throw invalidParam(`Unknown push rule kind ${kind}`);
  return kind;
}

function queryString(ctx: Context, name: string): string | undefined {
  const v = ctx.query[name];
  if (v === undefined) return undefined;
  if (typeof v !== "string") throw invalidParam(`${name} must be given once`);
  return v;
}

export function registerPushRules(router: Router, hs: ServerContext): void {
  const limit = hs.config.max_request_body_bytes;
  const rules = hs.push.rules;

  router.get(`${PREFIX}/`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    ctx.body = { global: await rules.ruleset(me.userId) };
  });

  router.get(`${PREFIX}/:scope/`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    if (ctx.params.scope !== "global") throw invalidParam(`Unknown push rule scope ${ctx.params.scope}: only global is supported`);
    ctx.body = await rules.ruleset(me.userId);
  });

  const ruleOf = async (userId: string, kind: RuleKind, ruleId: string) => {
    const rule = findRule(await rules.ruleset(userId), kind, ruleId);
    if (!rule) throw notFound("The push rule was not found.");
    return rule;
  };

  router.get(`${PREFIX}/:scope/:kind/:ruleId`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const kind = scopeAndKind(ctx);
    ctx.body = await ruleOf(me.userId, kind, ctx.params.ruleId);
  });

  router.put(`${PREFIX}/:scope/:kind/:ruleId`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, limit);
    const kind = scopeAndKind(ctx);
    const ruleId = ctx.params.ruleId;
    checkNewRuleId(ruleId);
    const actions = parseActions(body.actions);
    const conditions = kind === "override" || kind === "underride" ? parseConditions(body.conditions) : undefined;
    let pattern: string | undefined;
    if (kind === "content") {
      if (body.pattern === undefined || body.pattern === null) throw missingParam("Content rules need a pattern");
      if (typeof body.pattern !== "string") throw invalidParam("pattern must be a string");
      pattern = body.pattern;
    }
    await rules.put(me.userId, kind, ruleId, { actions, conditions, pattern }, { before: queryString(ctx, "before"), after: queryString(ctx, "after") });
    ctx.body = {};
  });

  router.delete(`${PREFIX}/:scope/:kind/:ruleId`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const kind = scopeAndKind(ctx);
    const rule = await ruleOf(me.userId, kind, ctx.params.ruleId);
    if (rule.default) throw new MatrixError(400, "M_INVALID_PARAM", "Server-default push rules cannot be deleted; disable them instead");
    await rules.delete(me.userId, kind, rule.rule_id);
    ctx.body = {};
  });

  router.get(`${PREFIX}/:scope/:kind/:ruleId/enabled`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const kind = scopeAndKind(ctx);
    ctx.body = { enabled: (await ruleOf(me.userId, kind, ctx.params.ruleId)).enabled };
  });

  router.put(`${PREFIX}/:scope/:kind/:ruleId/enabled`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, limit);
    const kind = scopeAndKind(ctx);
    if (body.enabled === undefined || body.enabled === null) throw missingParam("Missing enabled");
    if (typeof body.enabled !== "boolean") throw invalidParam("enabled must be a boolean");
    await rules.setEnabled(me.userId, kind, ctx.params.ruleId, body.enabled);
    ctx.body = {};
  });

  router.get(`${PREFIX}/:scope/:kind/:ruleId/actions`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const kind = scopeAndKind(ctx);
    ctx.body = { actions: (await ruleOf(me.userId, kind, ctx.params.ruleId)).actions };
  });

  router.put(`${PREFIX}/:scope/:kind/:ruleId/actions`, async (ctx) => {
    const me = await requireUser(ctx, hs.accounts);
    const body = await readJsonObject(ctx, limit);
    const kind = scopeAndKind(ctx);
    const actions = parseActions(body.actions);
    await rules.setActions(me.userId, kind, ctx.params.ruleId, actions);
    ctx.body = {};
  });
}
