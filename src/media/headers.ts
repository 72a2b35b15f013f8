/**
 * The headers media is served with (Client-Server API, content repository):
 * Content-Disposition inline only for the spec's list of types browsers
 * render harmlessly, attachment for everything else; a sandboxing
 * Content-Security-Policy; Cross-Origin-Resource-Policy so web clients on
 * another origin may use the bytes. Pure.
 */

/** The spec's "Serving inline content" list. */
const INLINE_TYPES = new Set([
  "text/css", "text/plain", "text/csv", "application/json", "application/ld+json",
  "image/jpeg", "image/gif", "image/png", "image/apng", "image/webp", "image/avif",
  "video/mp4", "video/webm", "video/ogg", "video/quicktime",
  "audio/mp4", "audio/webm", "audio/aac", "audio/mpeg", "audio/ogg", "audio/wave", "audio/wav", "audio/x-wav",
  "audio/x-pn-wav", "audio/flac", "audio/x-flac",
]);

/** The policy the spec recommends for everything the media repository serves. */
export const MEDIA_CSP = "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; style-src 'unsafe-inline'; object-src 'self';";

export const DEFAULT_CONTENT_TYPE = "application/octet-stream";

/** "image/PNG; charset=x" -> "image/png": what the inline list and the thumbnailer compare. */
export function baseType(contentType: string): string {
  return contentType.split(";")[0].trim().toLowerCase();
}

export function isInlineType(contentType: string): boolean {
  return INLINE_TYPES.has(baseType(contentType));
}

/**
 * A Content-Type as given on upload: kept as sent when it is a plausible
 * media type (a type/subtype and parameters, printable ASCII), else the
 * spec's fallback for an unknown type.
 */
export function normaliseContentType(header: string | undefined): string {
  const value = (header ?? "").trim();
  if (value.length === 0 || value.length > 255) return DEFAULT_CONTENT_TYPE;
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+(\s*;[\x20-\x7e]*)?$/.test(value)) return DEFAULT_CONTENT_TYPE;
  return value;
}

// Characters RFC 5987's attr-char allows unencoded; everything else is %XX of its UTF-8 bytes.
function encode5987(value: string): string {
  return Array.from(Buffer.from(value, "utf8"))
    .map((b) => {
      const c = String.fromCharCode(b);
      return /[A-Za-z0-9!#$&+.^_`|~-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
    })
    .join("");
}

/**
 * Content-Disposition with a file name per RFC 6266: a quoted filename when
 * the name is plain printable ASCII, else filename* (RFC 5987, UTF-8) so
 * any name survives without header injection.
 */
export function contentDisposition(contentType: string, fileName: string | null | undefined, forceInline = false): string {
  const kind = forceInline || isInlineType(contentType) ? "inline" : "attachment";
  if (!fileName) return kind;
  if (/^[\x20-\x7e]*$/.test(fileName) && !/["\\%]/.test(fileName)) return `${kind}; filename="${fileName}"`;
  return `${kind}; filename*=utf-8''${encode5987(fileName)}`;
}

/** The file name in a Content-Disposition header (a remote server's answer), or undefined. */
export function fileNameOfDisposition(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const star = /filename\*\s*=\s*([^']*)'[^']*'([^;\s]+)/i.exec(header);
  if (star) {
    try {
      const bytes = Buffer.from(star[2].replace(/%([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), "latin1");
      return star[1].toLowerCase() === "utf-8" ? bytes.toString("utf8") : bytes.toString("latin1");
    } catch {
      return undefined;
    }
  }
  const quoted = /filename\s*=\s*"((?:[^"\\]|\\.)*)"/i.exec(header);
  if (quoted) return quoted[1].replace(/\\(.)/g, "$1");
  const token = /filename\s*=\s*([^;\s]+)/i.exec(header);
  return token ? token[1] : undefined;
}
