/**
 * Canonical JSON (appendices: canonical JSON): the shortest UTF-8 JSON
 * with object keys sorted by Unicode code point, integers only within
 * [-(2^53)+1, 2^53-1], no floats, no -0.
 *
 * Why not the npm package `canonical-json` (0.4.0), which the design card
 * names: checked against the spec, it breaks two rules.
 *  - It sorts keys by UTF-16 code unit (JavaScript's default sort), not by
 *    code point: {"\u{1F600}":1,"\uFFFF":2} comes out with U+1F600 first,
 *    but U+FFFF < U+1F600 as code points. Signatures over such objects would
 *    not match other servers'.
 *  - It writes floats and out-of-range integers (1.5, 1e+21, 2**60) instead of
 *    refusing them, so a bad event would be signed instead of rejected.
 * The tests in test/unit/crypto pin both findings. String escaping
 * is JSON.stringify's, which is exactly the spec's grammar (the short
 * escapes for \b \t \n \f \r " \\, lowercase \u00XX for other controls,
 * everything else literal UTF-8).
 */

export class CanonicalJsonError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CanonicalJsonError";
  }
}

export const MAX_SAFE = Number.MAX_SAFE_INTEGER; // 2^53 - 1

export interface CanonicalOptions {
  /**
   * Room versions 1–5 may hold floats and huge integers; their events are
   * still hashed and signed. With `lenient`, such numbers are written as
   * JSON.stringify writes them instead of throwing.
   */
  readonly lenient?: boolean;
}

/**
 * Orders two strings by code point. UTF-16 code unit order agrees except
 * that surrogates (U+D800–DFFF, which encode code points above U+FFFF)
 * must sort after U+E000–FFFF; shifting both ranges fixes that.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800) x += x >= 0xe000 ? -0x800 : 0x2000;
    if (y >= 0xd800) y += y >= 0xe000 ? -0x800 : 0x2000;
    return x - y;
  }
  return a.length - b.length;
}

export function canonicalJson(value: unknown, opts: CanonicalOptions = {}): string {
  return encode(value, opts.lenient === true, "$");
}

function encode(value: unknown, lenient: boolean, path: string): string {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (Number.isInteger(value) && Math.abs(value) <= MAX_SAFE) return Object.is(value, -0) ? "0" : String(value);
      if (lenient && Number.isFinite(value)) return JSON.stringify(value);
      throw new CanonicalJsonError(`${path}: ${value} is not an integer in [-(2^53)+1, 2^53-1]`);
    case "object": {
      if (value === null) return "null";
      if (Array.isArray(value)) return "[" + value.map((v, i) => encode(v, lenient, `${path}[${i}]`)).join(",") + "]";
      const keys = Object.keys(value).filter((k) => (value as Record<string, unknown>)[k] !== undefined);
      keys.sort(compareCodePoints);
      const parts = keys.map((k) => JSON.stringify(k) + ":" + encode((value as Record<string, unknown>)[k], lenient, `${path}.${k}`));
      return "{" + parts.join(",") + "}";
    }
    default:
      throw new CanonicalJsonError(`${path}: ${typeof value} has no JSON form`);
  }
}
