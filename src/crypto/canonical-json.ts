/**
 * Canonical JSON (appendices: canonical JSON): the shortest UTF-8 JSON
 * with object keys sorted by Unicode code point, integers only within
 * [-(2^53)+1, 2^53-1], no floats, no -0.
 *
 * Why not the npm package `canonical-json` (0.4.0), which the design card
 * names: checked against the spec (test/unit/crypto/canonical-json.test.ts
 * runs the same inputs through it), it breaks two rules.
 *  - "dictionary keys lexicographically sorted by Unicode codepoint": it
 *    sorts by UTF-16 code unit (JavaScript's default sort). Input
 *    {"\uFFFF":2,"\u{1F600}":1} comes out with the U+1F600 key first,
 *    but U+FFFF < U+1F600 as code points, so the spec wants U+FFFF first
 *    (UTF-16 puts U+1F600's surrogates, 0xD83D..., before 0xFFFF).
 *    Signatures over such objects would not match other servers'.
 *  - "Numbers in the JSON must be integers in the range [-(2**53)+1,
 *    (2**53)-1], represented without exponents or decimal places": it
 *    writes {"a":1.5} for 1.5, {"a":1e+21} for 1e21 and
 *    {"a":1152921504606847000} for 2**60 (and {"a":null} for NaN) instead of
 *    refusing them, so a bad event would be signed instead of rejected.
 * It does pass every example in the appendix (they have neither astral keys
 * nor floats), which is why the examples alone do not catch it.
 *
 * String escaping is JSON.stringify's, which is exactly the spec's grammar:
 * the short escapes for \b \t \n \f \r " \\, lowercase \u00XX for the
 * other C0 controls, everything else (DEL and non-ASCII included) as
 * literal UTF-8. The one case the grammar cannot express, a lone surrogate,
 * comes out as a \udXXX escape (it has no UTF-8 form).
 *
 * -0: the appendix's own example turns {"a":-0} into {"a":0}, so -0 is
 * written as 0 rather than refused.
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
      // A Map, Date or typed array would otherwise come out as {} or as an
      // object of indices: refuse anything JSON.parse could not have made.
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) throw new CanonicalJsonError(`${path}: not a plain JSON object`);
      const keys = Object.keys(value).filter((k) => (value as Record<string, unknown>)[k] !== undefined);
      keys.sort(compareCodePoints);
      const parts = keys.map((k) => JSON.stringify(k) + ":" + encode((value as Record<string, unknown>)[k], lenient, `${path}.${k}`));
      return "{" + parts.join(",") + "}";
    }
    default:
      throw new CanonicalJsonError(`${path}: ${typeof value} has no JSON form`);
  }
}
