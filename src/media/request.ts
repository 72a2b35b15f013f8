/**
 * The query parameters of the media endpoints, read the same way for
 * clients and for other servers: 400 M_INVALID_PARAM for a malformed one,
 * M_MISSING_PARAM for a thumbnail without its size.
 */
import { invalidParam, missingParam } from "../http/errors.js";
import { DEFAULT_WAIT_MS } from "./repository.js";
import { parseThumbnailRequest, type Box } from "./thumbnail-sizes.js";

type Query = Record<string, string | string[] | undefined>;

export function timeoutParam(query: Query): number {
  const v = query.timeout_ms;
  if (v === undefined) return DEFAULT_WAIT_MS;
  if (typeof v !== "string" || !/^\d{1,15}$/.test(v)) throw invalidParam("timeout_ms must be a non-negative integer");
  return Number(v);
}

export function booleanParam(query: Query, name: string): boolean | undefined {
  const v = query[name];
  if (v === undefined) return undefined;
  if (v === "true") return true;
  if (v === "false") return false;
  throw invalidParam(`${name} must be true or false`);
}

/** width, height, method and animated of a thumbnail request. */
export function thumbnailParams(query: Query): { box: Box; animated: boolean } {
  if (query.width === undefined || query.height === undefined) throw missingParam("width and height are required");
  const box = parseThumbnailRequest(query.width, query.height, query.method);
  if (!box) throw invalidParam("width and height must be positive integers and method crop or scale");
  return { box, animated: booleanParam(query, "animated") === true };
}
