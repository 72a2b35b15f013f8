/**
 * The outbound federation client: resolves a server name (discovery, with
 * .well-known answers cached), connects over TLS checking the certificate
 * against the name the spec requires (system CAs plus configured ones),
 * refuses private and loopback addresses unless allowed (server-side
 * request forgery), and signs every request with our server key.
 */
import { promises as dns, lookup as dnsLookup, type LookupAddress } from "node:dns";
import type { IncomingMessage } from "node:http";
import { Agent, request as httpsRequest } from "node:https";
import { isIP } from "node:net";
import { isPrivateAddress } from "../src/http/addresses.js";
import { readFileSync } from "node:fs";
import { rootCertificates } from "node:tls";
import type { Config } from "../src/config.js";
import type { SigningKey } from "../src/crypto/keys.js";
import { MatrixError } from "../src/http/errors.js";
import type { Logger } from "../src/logger.js";
import { authorizationHeader } from "./request-auth.js";
import { parseWellKnown, resolveServer, type DiscoveryLookups, type SrvRecord, type Target } from "./resolve.js";

/** A remote server answered with an error (its status and Matrix error body), or could not be reached. */
export class FederationError extends Error {
  constructor(
    readonly destination: string,
    readonly status: number,
    readonly body: Record<string, unknown> | undefined,
    message: string,
  ) {
    super(message);
    this.name = "FederationError";
  }

  /** Reached the server and it said no (as opposed to a network failure or a 5xx). */
  get isRefusal(): boolean {
    return this.status >= 400 && this.status < 500;
  }
}

// One list of addresses outbound requests refuse (src/http/addresses.ts), shared with URL previews and push gateways; re-exported for the callers that import it from here.
export { isPrivateAddress };

const WELL_KNOWN_TTL_MS = 24 * 3600_000;
const WELL_KNOWN_MISS_TTL_MS = 3600_000;
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

export interface RequestOptions {
  /** Query parameters, appended in order. */
  readonly query?: Record<string, string | number | boolean | string[] | undefined>;
  readonly body?: unknown;
  /** Send without a signature (fetching server keys). */
  readonly unsigned?: boolean;
  readonly timeoutMs?: number;
}

export class FederationClient {
  private readonly agent: Agent;
  private readonly wellKnownCache = new Map<string, { value: string | undefined; expires: number }>();
  private readonly lookups: DiscoveryLookups;

  constructor(
    private readonly config: Config,
    private readonly key: SigningKey,
    private readonly log: Logger,
  ) {
    const extra = config.federation.trusted_ca_paths.map((p) => readFileSync(p, "utf8"));
    this.agent = new Agent({
      keepAlive: true,
      maxSockets: 8,
      ca: extra.length ? [...rootCertificates, ...extra] : undefined,
      rejectUnauthorized: config.federation.verify_tls,
      lookup: this.guardedLookup as unknown as import("node:net").LookupFunction,
    });
    this.lookups = {
      wellKnown: (host) => this.wellKnown(host),
      srv: async (name) => {
        try {
          return (await dns.resolveSrv(name)) as SrvRecord[];
        } catch {
          return [];
        }
      },
    };
  }

  /** Name resolution that refuses private addresses unless they are allowed. */
  private readonly guardedLookup = (hostname: string, options: object, callback: (...args: unknown[]) => void): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err);
      const list = (addresses as LookupAddress[]).filter((a) => this.config.federation.allow_private_addresses || !isPrivateAddress(a.address));
      if (list.length === 0) return callback(Object.assign(new Error(`${hostname} resolves only to private addresses`), { code: "EPRIVATE" }));
      if ((options as { all?: boolean }).all) return callback(null, list);
      callback(null, list[0].address, list[0].family);
    });
  };

  close(): void {
    this.agent.destroy();
  }

  async resolve(serverName: string): Promise<Target> {
    return resolveServer(serverName, this.lookups);
  }

  /** A signed request to another server's federation API; the parsed JSON answer, or a FederationError. */
  async request<T = Record<string, unknown>>(destination: string, method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const uri = withQuery(path, opts.query);
    const target = await this.resolve(destination);
    const headers: Record<string, string> = { host: target.hostHeader };
    if (!opts.unsigned) {
      headers.authorization = authorizationHeader(method, uri, this.config.server_name, destination, opts.body, this.key);
    }
    const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body), "utf8");
    if (payload) headers["content-type"] = "application/json";
    const { status, body } = await this.send(target, method, uri, headers, payload, opts.timeoutMs ?? this.config.federation.request_timeout_ms);
    let json: Record<string, unknown> | undefined;
    try {
      json = body.length ? (JSON.parse(body.toString("utf8")) as Record<string, unknown>) : undefined;
    } catch {
      json = undefined;
    }
    if (status < 200 || status >= 300) {
      throw new FederationError(destination, status, json, `${method} ${path} on ${destination}: ${status} ${json?.errcode ?? ""} ${json?.error ?? ""}`.trim());
    }
    if (json === undefined) throw new FederationError(destination, 502, undefined, `${method} ${path} on ${destination}: the answer is not JSON`);
    return json as T;
  }

  /**
   * A GET (signed unless `unsigned`) whose answer is streamed rather than
   * buffered (media): the caller reads the response or destroys it. A
   * non-2xx answer is read (bounded) and thrown as a FederationError.
   */
  async stream(destination: string, path: string, opts: Omit<RequestOptions, "body"> = {}): Promise<IncomingMessage> {
    const uri = withQuery(path, opts.query);
    const target = await this.resolve(destination);
    const headers: Record<string, string> = { host: target.hostHeader };
    if (!opts.unsigned) headers.authorization = authorizationHeader("GET", uri, this.config.server_name, destination, undefined, this.key);
    if (isIP(target.host) && !this.config.federation.allow_private_addresses && isPrivateAddress(target.host)) {
      throw new FederationError(target.hostHeader, 0, undefined, `${target.host} is a private address`);
    }
    const timeoutMs = opts.timeoutMs ?? this.config.federation.request_timeout_ms;
    const res = await this.open({
      host: target.host, port: target.port, path: uri, headers, servername: isIP(target.tlsName) ? undefined : target.tlsName,
    }, timeoutMs, `GET ${uri} to ${target.hostHeader}`);
    await this.refuseErrorStatus(res, destination, `GET ${path}`);
    return res;
  }

  /** GET an https URL another server pointed us to (a media Location), through the same guarded agent, streamed. */
  async fetchUrl(url: string, timeoutMs = this.config.federation.request_timeout_ms): Promise<IncomingMessage> {
    const u = new URL(url);
    if (u.protocol !== "https:") throw new FederationError(u.host, 0, undefined, `refusing to follow ${u.protocol} URL`);
    const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
    if (isIP(host) && !this.config.federation.allow_private_addresses && isPrivateAddress(host)) {
      throw new FederationError(u.host, 0, undefined, `${host} is a private address`);
    }
    const res = await this.open({
      host, port: u.port ? Number(u.port) : 443, path: `${u.pathname}${u.search}`, headers: { host: u.host }, servername: isIP(host) ? undefined : host,
    }, timeoutMs, `GET ${u.origin}${u.pathname}`);
    await this.refuseErrorStatus(res, u.host, `GET ${u.pathname}`);
    return res;
  }

  private open(opts: { host: string; port: number; path: string; headers: Record<string, string>; servername?: string }, timeoutMs: number, what: string): Promise<IncomingMessage> {
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpsRequest({ ...opts, method: "GET", agent: this.agent, timeout: timeoutMs }, resolve);
      req.on("timeout", () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
      req.on("error", (err) => reject(new FederationError(opts.headers.host ?? opts.host, 0, undefined, `${what}: ${err.message}`)));
      req.end();
    });
  }

  private async refuseErrorStatus(res: IncomingMessage, destination: string, what: string): Promise<void> {
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) return;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of res as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > 65536) break;
      chunks.push(c);
    }
    res.destroy();
    let json: Record<string, unknown> | undefined;
    try {
      json = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
    } catch {
      json = undefined;
    }
    throw new FederationError(destination, status, json, `${what} on ${destination}: ${status} ${json?.errcode ?? ""}`.trim());
  }

  private send(target: Target, method: string, uri: string, headers: Record<string, string>, payload: Buffer | undefined, timeoutMs: number) {
    if (isIP(target.host) && !this.config.federation.allow_private_addresses && isPrivateAddress(target.host)) {
      return Promise.reject(new FederationError(target.hostHeader, 0, undefined, `${target.host} is a private address`));
    }
    return new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
      const req = httpsRequest({
        host: target.host,
        port: target.port,
        method,
        path: uri,
        headers: { ...headers, ...(payload ? { "content-length": String(payload.length) } : {}) },
        agent: this.agent,
        // The certificate must be valid for the resolved name (or IP); SNI only for names.
        servername: isIP(target.tlsName) ? undefined : target.tlsName,
        timeout: timeoutMs,
      }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) {
            req.destroy(new Error("response too large"));
            return;
          }
          chunks.push(c);
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      });
      req.on("timeout", () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
      req.on("error", (err) => reject(new FederationError(target.hostHeader, 0, undefined, `${method} ${uri} to ${target.hostHeader}: ${err.message}`)));
      if (payload) req.write(payload);
      req.end();
    });
  }

  /** /.well-known/matrix/server, cached for a day (an hour when there is none). */
  private async wellKnown(hostname: string): Promise<string | undefined> {
    const cached = this.wellKnownCache.get(hostname);
    if (cached && cached.expires > Date.now()) return cached.value;
    let value: string | undefined;
    try {
      const { status, body } = await this.send(
        { host: hostname, port: 443, hostHeader: hostname, tlsName: hostname }, "GET", "/.well-known/matrix/server", {}, undefined, 10_000,
      );
      value = status === 200 ? parseWellKnown(JSON.parse(body.toString("utf8"))) : undefined;
    } catch (err) {
      this.log.debug("no well-known", { host: hostname, err: String(err) });
      value = undefined;
    }
    if (this.wellKnownCache.size > 10_000) this.wellKnownCache.clear();
    this.wellKnownCache.set(hostname, { value, expires: Date.now() + (value ? WELL_KNOWN_TTL_MS : WELL_KNOWN_MISS_TTL_MS) });
    return value;
  }
}

function withQuery(path: string, query: RequestOptions["query"]): string {
  if (!query) return path;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) q.append(k, String(one));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/** A remote error as our own client sees it: the remote's refusal passed on, anything else a 502. */
export function asMatrixError(err: unknown): MatrixError {
  if (err instanceof FederationError && err.isRefusal && typeof err.body?.errcode === "string") {
    return new MatrixError(err.status, err.body.errcode, String(err.body.error ?? "Refused by the remote server"));
  }
  return new MatrixError(502, "M_UNKNOWN", `Remote server unavailable: ${(err as Error).message}`);
}
