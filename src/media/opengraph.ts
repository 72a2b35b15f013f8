/**
 * OpenGraph metadata from a page's HTML, for URL previews: the og:*
 * <meta> properties, with the page's <title> and meta description as
 * fallbacks. A small tag scanner over the first part of the page, not an
 * HTML parser: previews need a handful of attributes from <head>. Pure.
 */

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: "\u00a0" };

export function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]{1,6}|#\d{1,7}|[a-z]{2,8});/gi, (m, e: string) => {
    if (e[0] === "#") {
      const code = e[1] === "x" || e[1] === "X" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : m;
    }
    return ENTITIES[e.toLowerCase()] ?? m;
  });
}

function attributes(tag: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))/g;
  for (let m = re.exec(tag); m; m = re.exec(tag)) out.set(m[1].toLowerCase(), decodeEntities(m[2] ?? m[3] ?? m[4] ?? ""));
  return out;
}

const MAX_VALUE = 1000;
const clip = (s: string) => s.trim().replace(/\s+/g, " ").slice(0, MAX_VALUE);

/** og:* properties (strings), og:title and og:description filled from <title> and the meta description when absent. */
export function openGraph(html: string): Record<string, string> {
  const og: Record<string, string> = {};
  for (const m of html.matchAll(/<meta\b[^>]*>/gi)) {
    const a = attributes(m[0]);
    const key = a.get("property") ?? a.get("name");
    const content = a.get("content");
    if (!key || content === undefined) continue;
    const k = key.toLowerCase();
    if (k.startsWith("og:") && !(k in og) && Object.keys(og).length < 50) og[k] = clip(content);
    else if (k === "description" && !("og:description" in og)) og["og:description"] = clip(content);
  }
  if (!og["og:title"]) {
    const t = /<title\b[^>]*>([\s\S]*?)<\/title>/i.exec(html);
    if (t) og["og:title"] = clip(decodeEntities(t[1]));
  }
  return og;
}
