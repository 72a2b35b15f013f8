/**
 * Server discovery (server-server API: resolving server names): which
 * host and port to connect to for a server name, what to send as the Host
 * header and which name the TLS certificate must carry.
 *
 * The order is the spec's: an IP literal, or a hostname with an explicit
 * port, is used as it is; otherwise /.well-known/matrix/server may delegate
 * to another name (itself resolved by literal, port, SRV or 8448); without
 * delegation the SRV records _matrix-fed._tcp then _matrix._tcp are tried,
 * and finally port 8448. The lookups are injected, so the order is tested
 * without a network.
 */
import { isIP } from "node:net";

export interface Target {
  /** What to connect to: an IP address or a hostname to look up. */
  readonly host: string;
  readonly port: number;
  /** The Host header. */
  readonly hostHeader: string;
  /** The name the certificate must be valid for (and the SNI), or the IP address. */
  readonly tlsName: string;
}

export interface SrvRecord {
  readonly name: string;
  readonly port: number;
  readonly priority: number;
  readonly weight: number;
}

export interface DiscoveryLookups {
  /** The `m.server` of https://<host>/.well-known/matrix/server, or undefined when there is none (or it is invalid). */
  wellKnown(hostname: string): Promise<string | undefined>;
  /** SRV records for a name such as _matrix-fed._tcp.example.org; [] when there are none. */
  srv(name: string): Promise<SrvRecord[]>;
}

export const DEFAULT_PORT = 8448;

/** Split `host[:port]`, with IPv6 literals in brackets. */
export function splitServerName(name: string): { hostname: string; port?: number } {
  const v6 = /^\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?$/.exec(name);
  if (v6) return { hostname: v6[1], port: v6[2] === undefined ? undefined : Number(v6[2]) };
  const m = /^([^:]+)(?::(\d{1,5}))?$/.exec(name);
  if (!m) throw new Error(`not a server name: ${name}`);
  return { hostname: m[1], port: m[2] === undefined ? undefined : Number(m[2]) };
}

/** The spec's resolution of `serverName` to a connection target. */
export async function resolveServer(serverName: string, lookups: DiscoveryLookups): Promise<Target> {
  const { hostname, port } = splitServerName(serverName);
  // 1. An IP literal: as it is, port 8448 unless given.
  if (isIP(hostname)) return { host: hostname, port: port ?? DEFAULT_PORT, hostHeader: serverName, tlsName: hostname };
  // 2. A hostname with an explicit port.
  if (port !== undefined) return { host: hostname, port, hostHeader: serverName, tlsName: hostname };
  // 3. Delegation through .well-known.
  const delegated = await lookups.wellKnown(hostname);
  if (delegated !== undefined) {
    const d = splitServerName(delegated);
    if (isIP(d.hostname)) return { host: d.hostname, port: d.port ?? DEFAULT_PORT, hostHeader: delegated, tlsName: d.hostname };
    if (d.port !== undefined) return { host: d.hostname, port: d.port, hostHeader: delegated, tlsName: d.hostname };
    const viaSrv = await srvTarget(d.hostname, lookups);
    if (viaSrv) return { ...viaSrv, hostHeader: delegated, tlsName: d.hostname };
    return { host: d.hostname, port: DEFAULT_PORT, hostHeader: delegated, tlsName: d.hostname };
  }
  // 4./5. SRV records of the server name itself; 6. port 8448.
  const viaSrv = await srvTarget(hostname, lookups);
  if (viaSrv) return { ...viaSrv, hostHeader: serverName, tlsName: hostname };
  return { host: hostname, port: DEFAULT_PORT, hostHeader: serverName, tlsName: hostname };
}

async function srvTarget(hostname: string, lookups: DiscoveryLookups): Promise<{ host: string; port: number } | undefined> {
  for (const service of ["_matrix-fed._tcp", "_matrix._tcp"]) {
    const records = await lookups.srv(`${service}.${hostname}`);
    const best = pickSrv(records);
    if (best) return { host: best.name, port: best.port };
  }
  return undefined;
}

/** The lowest priority, and among those the heaviest weight (a deterministic reading of RFC 2782's choice). */
export function pickSrv(records: readonly SrvRecord[]): SrvRecord | undefined {
  let best: SrvRecord | undefined;
  for (const r of records) {
    if (r.name === "." || r.name === "") continue;
    if (!best || r.priority < best.priority || (r.priority === best.priority && r.weight > best.weight)) best = r;
  }
  return best;
}

/** The delegated name in a well-known body, if it is a valid one. */
export function parseWellKnown(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const server = (body as Record<string, unknown>)["m.server"];
  if (typeof server !== "string") return undefined;
  try {
    const { hostname } = splitServerName(server);
    return hostname.length > 0 ? server : undefined;
  } catch {
    return undefined;
  }
}
