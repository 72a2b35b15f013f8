/**
 * Request authentication between servers (server-server API:
 * authentication): the sender signs {method, uri, origin, destination,
 * content} with its server key and sends the signature in an
 * `Authorization: X-Matrix ...` header; the receiver checks it with the
 * sender's published key. Pure apart from the key lookup it is given.
 */
import { decodeBase64, encodeBase64 } from "../src/crypto/base64.js";
import { canonicalJson } from "../src/crypto/canonical-json.js";
import type { SigningKey } from "../src/crypto/keys.js";
import { ed25519Sign, ed25519Verify } from "../src/crypto/signing.js";
import { MatrixError } from "../src/http/errors.js";
import { isValidServerName } from "../src/room/identifiers.js";

export interface XMatrix {
  readonly origin: string;
  readonly destination?: string;
  readonly key: string;
  readonly sig: string;
}

function signedRequest(method: string, uri: string, origin: string, destination: string, content: unknown): Uint8Array {
  const obj: Record<string, unknown> = { method, uri, origin, destination };
  if (content !== undefined) obj.content = content;
  return Buffer.from(canonicalJson(obj), "utf8");
}

/** The Authorization header for a request we send. */
export function authorizationHeader(method: string, uri: string, origin: string, destination: string, content: unknown, key: SigningKey): string {
  const sig = encodeBase64(ed25519Sign(signedRequest(method, uri, origin, destination, content), key));
  return `X-Matrix origin="${origin}",destination="${destination}",key="${key.keyId}",sig="${sig}"`;
}

/**
 * Parse an X-Matrix header: comma-separated name=value pairs, values
 * optionally quoted (with backslash escapes), names case-insensitive.
 */
export function parseXMatrix(header: string): XMatrix | undefined {
  const m = /^X-Matrix\s+(.*)$/i.exec(header.trim());
  if (!m) return undefined;
  const params = new Map<string, string>();
  const re = /\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*(?:,|$)/gy;
  let match: RegExpExecArray | null;
  let consumed = 0;
  while (consumed < m[1].length && (match = re.exec(m[1])) !== null) {
    if (match[0].length === 0) break;
    params.set(match[1].toLowerCase(), match[2] !== undefined ? match[2].replace(/\\(.)/g, "$1") : match[3]);
    consumed = re.lastIndex;
  }
  const origin = params.get("origin");
  const key = params.get("key");
  const sig = params.get("sig");
  if (!origin || !key || !sig) return undefined;
  return { origin, destination: params.get("destination"), key, sig };
}

export type VerifyKeyLookup = (serverName: string, keyId: string) => Promise<Uint8Array | undefined>;

/**
 * The verified origin of an inbound request, or the 401 the spec asks for.
 * `uri` is the path with query string, exactly as received.
 */
export async function authenticateRequest(
  headers: readonly string[], method: string, uri: string, ourName: string, content: unknown, keyFor: VerifyKeyLookup,
): Promise<string> {
  const unauthorized = (msg: string) => new MatrixError(401, "M_UNAUTHORIZED", msg);
  const candidates = headers.map(parseXMatrix).filter((x): x is XMatrix => x !== undefined);
  if (candidates.length === 0) throw unauthorized("Missing or malformed X-Matrix Authorization header");
  // Several headers may carry signatures by several keys of one origin; one valid signature suffices.
  const origin = candidates[0].origin;
  if (!isValidServerName(origin)) throw unauthorized("Invalid origin");
  for (const x of candidates) {
    if (x.origin !== origin) throw unauthorized("Authorization headers disagree on the origin");
    if (x.destination !== undefined && x.destination !== ourName) throw unauthorized("Request is for another server");
    let sig: Uint8Array;
    try {
      sig = decodeBase64(x.sig);
    } catch {
      continue;
    }
    const key = await keyFor(origin, x.key);
    if (key && ed25519Verify(signedRequest(method, uri, origin, ourName, content), sig, key)) return origin;
  }
  throw unauthorized("Invalid signature");
}
