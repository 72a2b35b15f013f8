/**
 * Outbound requests to push gateways. The URL is whatever a user gave, so
 * every address it resolves to is checked before connecting (IP literals
 * directly, names at lookup time, so a DNS answer cannot swap in a private
 * address afterwards): loopback and private networks are refused unless
 * push.allow_private_addresses is on. Answers are bounded in size and time.
 */
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { request as httpRequest, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";
import { isIP, type LookupFunction } from "node:net";
import { isPrivateAddress } from "../http/addresses.js";

const MAX_ANSWER_BYTES = 1024 * 1024;

export interface GatewayAnswer {
  readonly status: number;
  readonly body: unknown;
}

export class GatewayClient {
  constructor(
    private readonly allowPrivate: boolean,
    private readonly timeoutMs: number,
  ) {}

  private readonly guardedLookup = (hostname: string, options: object, callback: (...args: unknown[]) => void): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err);
      const list = (addresses as LookupAddress[]).filter((a) => this.allowPrivate || !isPrivateAddress(a.address));
      if (list.length === 0) return callback(Object.assign(new Error(`${hostname} resolves only to private addresses`), { code: "EPRIVATE" }));
      if ((options as { all?: boolean }).all) return callback(null, list);
      callback(null, list[0].address, list[0].family);
    });
  };

  /** POST a JSON body; the status and parsed JSON answer (undefined if not JSON), or a thrown network error. */
  async post(url: string, body: unknown): Promise<GatewayAnswer> {
    const target = new URL(url);
    const host = target.hostname.replace(/^\[(.*)\]$/, "$1");
    if (isIP(host) && !this.allowPrivate && isPrivateAddress(host)) throw new Error(`push gateway ${host} is a private address`);
    const payload = Buffer.from(JSON.stringify(body));
    const options: RequestOptions = {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": String(payload.length) },
      lookup: this.guardedLookup as unknown as LookupFunction,
      timeout: this.timeoutMs,
    };
    const send = target.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise<GatewayAnswer>((resolve, reject) => {
      const req = send(target, options, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > MAX_ANSWER_BYTES) {
            req.destroy(new Error("push gateway answer too large"));
            return;
          }
          chunks.push(c);
        });
        res.on("end", () => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString("utf8"));
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on("error", reject);
      });
      req.on("timeout", () => req.destroy(new Error("push gateway timed out")));
      req.on("error", reject);
      req.end(payload);
    });
  }
}
