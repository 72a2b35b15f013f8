/**
 * Fetching web pages and images for URL previews: http and https only,
 * names resolved through a lookup that refuses private addresses (unless
 * media.url_preview_allow_private_addresses), redirects followed a few
 * times and each re-checked, a timeout on every request. The answer is
 * streamed; the caller bounds what it reads.
 */
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP } from "node:net";
import { isPrivateAddress } from "../http/addresses.js";

const MAX_REDIRECTS = 5;

export class UrlFetchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UrlFetchError";
  }
}

export interface FetchedUrl {
  readonly url: string;
  readonly response: IncomingMessage;
}

function guardedLookup(allowPrivate: boolean) {
  return (hostname: string, options: object, callback: (...args: unknown[]) => void): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err);
      const list = (addresses as LookupAddress[]).filter((a) => allowPrivate || !isPrivateAddress(a.address));
      if (list.length === 0) return callback(Object.assign(new Error(`${hostname} resolves only to private addresses`), { code: "EPRIVATE" }));
      if ((options as { all?: boolean }).all) return callback(null, list);
      callback(null, list[0].address, list[0].family);
    });
  };
}

export function checkPreviewUrl(raw: string): URL {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UrlFetchError("not a URL");
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new UrlFetchError("only http and https URLs are previewed");
  if (u.username || u.password) throw new UrlFetchError("URLs with credentials are not previewed");
  return u;
}

/** GET `url`, following redirects; resolves with the final 2xx response (the caller reads or destroys it). */
export async function fetchUrl(url: string, opts: { timeoutMs: number; allowPrivate: boolean; accept: string }): Promise<FetchedUrl> {
  let current = checkPreviewUrl(url);
  // Bounded: at most MAX_REDIRECTS hops.
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const host = current.hostname.replace(/^\[(.*)\]$/, "$1");
    if (isIP(host) && !opts.allowPrivate && isPrivateAddress(host)) throw new UrlFetchError(`${host} is a private address`);
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const send = current.protocol === "https:" ? httpsRequest : httpRequest;
      const req = send(current, {
        method: "GET",
        headers: { "user-agent": "pimatrix URL preview", accept: opts.accept },
        timeout: opts.timeoutMs,
        lookup: guardedLookup(opts.allowPrivate) as unknown as import("node:net").LookupFunction,
      }, resolve);
      req.on("timeout", () => req.destroy(new UrlFetchError(`timed out after ${opts.timeoutMs} ms`)));
      req.on("error", (err) => reject(new UrlFetchError(err.message)));
      req.end();
    });
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location) {
      res.destroy();
      current = checkPreviewUrl(new URL(res.headers.location, current).toString());
      continue;
    }
    if (status < 200 || status >= 300) {
      res.destroy();
      throw new UrlFetchError(`answered ${status}`);
    }
    return { url: current.toString(), response: res };
  }
  throw new UrlFetchError("too many redirects");
}

/** Up to `limit` bytes of a response (the rest is not read: the connection is closed). */
export async function readAtMost(res: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= limit) break;
  }
  res.destroy();
  return Buffer.concat(chunks).subarray(0, limit);
}
