/**
 * What of an event full-text search reads, and how a search term becomes
 * words. Pure, so both database engines are fed and queried the same way.
 *
 * Neither engine stems: Matrix rooms speak every language, and a stemmer
 * tuned for English would mangle the rest. Instead every word of the query
 * matches as a prefix ("martian" finds "martians"), and all words must match.
 */
import type { RoomEvent } from "../room/types.js";

/** The content keys the spec lets a client search, and the event type each lives in. */
export const SEARCH_KEYS = ["content.body", "content.name", "content.topic"] as const;
export type SearchKey = (typeof SEARCH_KEYS)[number];

const KEY_OF_TYPE: Record<string, SearchKey> = {
  "m.room.message": "content.body",
  "m.room.name": "content.name",
  "m.room.topic": "content.topic",
};

/** At most this many words of a query are used: each adds a clause to the match. */
const MAX_TERMS = 16;
/** Indexed text is cut here: a 64 KiB event body gains nothing from more. */
const MAX_VALUE_CHARS = 16_384;

export interface SearchableText {
  readonly key: SearchKey;
  readonly value: string;
}

/** The searchable text of an event, if it has any. */
export function searchableText(ev: Pick<RoomEvent, "type" | "stateKey" | "content">): SearchableText | undefined {
  const key = KEY_OF_TYPE[ev.type];
  if (key === undefined) return undefined;
  // Name and topic count only as room state; a stray non-state m.room.name is just an event.
  if (key !== "content.body" && ev.stateKey !== "") return undefined;
  const parts: string[] = [];
  const field = key.slice("content.".length);
  if (typeof ev.content[field] === "string") parts.push(ev.content[field] as string);
  if (key === "content.topic") {
    // m.topic (extensible topics): the text/plain representation is searched too.
    const rich = ev.content["m.topic"];
    const reprs = (rich as { "m.text"?: unknown } | undefined)?.["m.text"];
    if (Array.isArray(reprs)) {
      for (const r of reprs) {
        const o = r as { mimetype?: unknown; body?: unknown };
        if (typeof o?.body === "string" && (o.mimetype === undefined || o.mimetype === "text/plain") && !parts.includes(o.body)) parts.push(o.body);
      }
    }
  }
  const value = parts.join("\n").slice(0, MAX_VALUE_CHARS);
  return value.trim() === "" ? undefined : { key, value };
}

const WORD = /[\p{L}\p{N}]+/gu;

/**
 * The words of a search term, lower-cased, without duplicates. Only
 * letters and digits survive, so nothing a user types can reach the
 * engines' query syntax (FTS5 MATCH, to_tsquery) as an operator.
 */
export function searchWords(term: string): string[] {
  const out: string[] = [];
  for (const m of term.toLowerCase().matchAll(WORD)) {
    if (!out.includes(m[0])) out.push(m[0]);
    if (out.length === MAX_TERMS) break;
  }
  return out;
}

/** FTS5: each word a quoted prefix query, implicitly ANDed. */
export function fts5Query(words: readonly string[]): string {
  return words.map((w) => `"${w}"*`).join(" ");
}

/** PostgreSQL to_tsquery: each word a prefix, ANDed. */
export function tsQuery(words: readonly string[]): string {
  return words.map((w) => `${w}:*`).join(" & ");
}

/**
 * The words of the found texts that the query matched, for clients to
 * highlight: the actual words, so "martian" highlights "martians".
 */
export function highlightsIn(texts: Iterable<string>, words: readonly string[]): string[] {
  const found = new Set<string>();
  for (const text of texts) {
    for (const m of text.matchAll(WORD)) {
      const lower = m[0].toLowerCase();
      if (words.some((w) => lower.startsWith(w))) found.add(m[0]);
    }
  }
  return [...found];
}
