/**
 * Typed reads of request bodies: a wrong type is 400 M_BAD_JSON, a missing
 * required field 400 M_MISSING_PARAM, so handlers never see bad shapes.
 */
import { badJson, missingParam } from "./errors.js";

type Body = Record<string, unknown>;

export function optionalString(body: Body, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw badJson(`${key} must be a string`);
  return v;
}

export function requireString(body: Body, key: string): string {
  const v = optionalString(body, key);
  if (v === undefined) throw missingParam(`Missing ${key}`);
  return v;
}

export function optionalBoolean(body: Body, key: string): boolean | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw badJson(`${key} must be a boolean`);
  return v;
}

export function optionalObject(body: Body, key: string): Body | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "object" || Array.isArray(v)) throw badJson(`${key} must be an object`);
  return v as Body;
}
