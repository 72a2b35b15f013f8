/**
 * Configuration: config/default.yaml holds every setting with its default
 * and comment; a config file and PIMATRIX_* environment variables override
 * it. Each setting is validated here, and an invalid one stops start-up
 * with a message that names it.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { isValidServerName } from "./room/identifiers.js";
import { isKnownRoomVersion } from "./room/versions.js";

export interface Config {
  server_name: string;
  data_dir: string;
  bind_address: string;
  port: number;
  public_baseurl: string;
  database: {
    engine: "sqlite" | "postgres";
    sqlite_path: string;
    sqlite_synchronous: "full" | "normal";
    postgres_url: string;
    postgres_pool_max: number;
  };
  signing_key_path: string;
  default_room_version: string;
  max_request_body_bytes: number;
  event_cache_size: number;
  state_cache_size: number;
  state_delta_chain_max: number;
  refreshable_access_token_lifetime_ms: number;
  registration: {
    enabled: boolean;
    requires_token: boolean;
    shared_secret: string;
  };
  user_directory: {
    search_all_users: boolean;
  };
  media: {
    max_upload_bytes: number;
    max_pending_uploads: number;
    unused_expiry_ms: number;
    max_thumbnail_pixels: number;
    freeze_unauthenticated_since_ms: number;
    url_preview_enabled: boolean;
    url_preview_allow_private_addresses: boolean;
  };
  rate_limits: {
    message: RateLimitSetting;
    login: RateLimitSetting;
    registration: RateLimitSetting;
  };
  federation: {
    enabled: boolean;
    tls_port: number;
    tls_certificate_path: string;
    tls_private_key_path: string;
    trusted_ca_paths: string[];
    verify_tls: boolean;
    allow_private_addresses: boolean;
    key_validity_ms: number;
    request_timeout_ms: number;
    retry_initial_ms: number;
    retry_max_ms: number;
    well_known_server: string;
  };
  push: {
    allow_private_addresses: boolean;
    require_https: boolean;
    request_timeout_ms: number;
    retry_initial_ms: number;
    retry_max_ms: number;
    give_up_after_ms: number;
    expand_delay_ms: number;
    keep_notifications_ms: number;
    rule_cache_size: number;
  };
  log_level: "error" | "warn" | "info" | "debug";
}

export interface RateLimitSetting {
  per_second: number;
  burst: number;
}

export class ConfigError extends Error {
  constructor(setting: string, problem: string) {
    super(`invalid setting ${setting}: ${problem}`);
    this.name = "ConfigError";
  }
}

type Check = (value: unknown, name: string) => unknown;
interface Schema {
  [key: string]: Check | Schema;
}

const string: Check = (v, n) => {
  if (typeof v !== "string") throw new ConfigError(n, `expected a string, got ${JSON.stringify(v)}`);
  return v;
};
const oneOf = (...allowed: string[]): Check => (v, n) => {
  if (typeof v !== "string" || !allowed.includes(v)) {
    throw new ConfigError(n, `expected one of ${allowed.join(", ")}, got ${JSON.stringify(v)}`);
  }
  return v;
};
const integer = (min: number, max: number): Check => (v, n) => {
  // Environment variables arrive as strings; accept "8008" as 8008.
  const num = typeof v === "string" && /^-?\d+$/.test(v) ? Number(v) : v;
  if (typeof num !== "number" || !Number.isInteger(num) || num < min || num > max) {
    throw new ConfigError(n, `expected an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return num;
};
// Server names: a hostname, IPv4 or [IPv6] literal, with an optional port (appendices: server name grammar).
const serverName: Check = (v, n) => {
  const s = string(v, n) as string;
  if (!isValidServerName(s)) {
    throw new ConfigError(n, `not a valid server name: ${JSON.stringify(s)}`);
  }
  return s;
};
const number = (min: number, max: number): Check => (v, n) => {
  const num = typeof v === "string" && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
  if (typeof num !== "number" || !Number.isFinite(num) || num < min || num > max) {
    throw new ConfigError(n, `expected a number from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return num;
};
const boolean: Check = (v, n) => {
  if (v === true || v === "true") return true;
  if (v === false || v === "false") return false;
  throw new ConfigError(n, `expected true or false, got ${JSON.stringify(v)}`);
};
const roomVersion: Check = (v, n) => {
  const s = typeof v === "number" ? String(v) : v;
  if (!isKnownRoomVersion(s)) throw new ConfigError(n, `unknown room version ${JSON.stringify(v)}`);
  return s;
};

// A list of strings; from an environment variable, comma-separated.
const stringList: Check = (v, n) => {
  if (typeof v === "string") return v === "" ? [] : v.split(",").map((x) => x.trim());
  if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw new ConfigError(n, `expected a list of strings, got ${JSON.stringify(v)}`);
  return v;
};

/** The shape of the config: one check per leaf. Must match config/default.yaml. */
export const SCHEMA: Schema = {
  server_name: serverName,
  data_dir: string,
  bind_address: string,
  port: integer(0, 65535),
  public_baseurl: string,
  database: {
    engine: oneOf("sqlite", "postgres"),
    sqlite_path: string,
    sqlite_synchronous: oneOf("full", "normal"),
    postgres_url: string,
    postgres_pool_max: integer(1, 1000),
  },
  signing_key_path: string,
  default_room_version: roomVersion,
  max_request_body_bytes: integer(1024, 1 << 30),
  event_cache_size: integer(0, 10_000_000),
  state_cache_size: integer(0, 100_000_000),
  state_delta_chain_max: integer(1, 10_000),
  refreshable_access_token_lifetime_ms: integer(1000, 365 * 24 * 3600 * 1000),
  registration: {
    enabled: boolean,
    requires_token: boolean,
    shared_secret: string,
  },
  user_directory: {
    search_all_users: boolean,
  },
  media: {
    max_upload_bytes: integer(1, 2 ** 40),
    max_pending_uploads: integer(1, 1_000_000),
    unused_expiry_ms: integer(1000, 365 * 24 * 3600 * 1000),
    max_thumbnail_pixels: integer(1, 2 ** 31),
    freeze_unauthenticated_since_ms: integer(0, Number.MAX_SAFE_INTEGER),
    url_preview_enabled: boolean,
    url_preview_allow_private_addresses: boolean,
  },
  rate_limits: {
    message: { per_second: number(0, 1e6), burst: integer(1, 1e9) },
    login: { per_second: number(0, 1e6), burst: integer(1, 1e9) },
    registration: { per_second: number(0, 1e6), burst: integer(1, 1e9) },
  },
  federation: {
    enabled: boolean,
    tls_port: integer(0, 65535),
    tls_certificate_path: string,
    tls_private_key_path: string,
    trusted_ca_paths: stringList,
    verify_tls: boolean,
    allow_private_addresses: boolean,
    key_validity_ms: integer(60_000, 365 * 24 * 3600 * 1000),
    request_timeout_ms: integer(100, 600_000),
    retry_initial_ms: integer(10, 24 * 3600 * 1000),
    retry_max_ms: integer(10, 7 * 24 * 3600 * 1000),
    well_known_server: string,
  },
  push: {
    allow_private_addresses: boolean,
    require_https: boolean,
    request_timeout_ms: integer(100, 600_000),
    retry_initial_ms: integer(10, 24 * 3600 * 1000),
    retry_max_ms: integer(10, 7 * 24 * 3600 * 1000),
    give_up_after_ms: integer(1000, 30 * 24 * 3600 * 1000),
    expand_delay_ms: integer(0, 3600 * 1000),
    keep_notifications_ms: integer(0, 10 * 365 * 24 * 3600 * 1000),
    rule_cache_size: integer(0, 10_000_000),
  },
  log_level: oneOf("error", "warn", "info", "debug"),
};

const ENV_PREFIX = "PIMATRIX_";

export function defaultConfigPath(): string {
  // dist/src/config.js and src/config.ts both sit two levels below the package root's config/.
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ["..", "../.."]) {
    const p = resolve(here, up, "config", "default.yaml");
    if (existsSync(p)) return p;
  }
  throw new Error("config/default.yaml not found beside the package");
}

type Tree = Record<string, unknown>;

function isTree(v: unknown): v is Tree {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function merge(base: Tree, over: Tree, path: string): Tree {
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const name = path ? `${path}.${k}` : k;
    if (!(k in base)) throw new ConfigError(name, "unknown setting");
    out[k] = isTree(base[k]) ? merge(base[k] as Tree, isTree(v) ? v : failTree(name, v), name) : v;
  }
  return out;
}

function failTree(name: string, v: unknown): never {
  throw new ConfigError(name, `expected a mapping, got ${JSON.stringify(v)}`);
}

/** PIMATRIX_DATABASE__ENGINE=postgres -> { database: { engine: "postgres" } } */
function fromEnv(env: NodeJS.ProcessEnv): Tree {
  const out: Tree = {};
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith(ENV_PREFIX) || value === undefined) continue;
    const parts = key.slice(ENV_PREFIX.length).toLowerCase().split("__");
    let node = out;
    for (const p of parts.slice(0, -1)) node = (node[p] ??= {}) as Tree;
    node[parts[parts.length - 1]] = value;
  }
  return out;
}

function validate(tree: Tree, schema: Schema, path: string): Tree {
  const out: Tree = {};
  for (const [k, check] of Object.entries(schema)) {
    const name = path ? `${path}.${k}` : k;
    out[k] = typeof check === "function" ? check(tree[k], name) : validate(tree[k] as Tree, check, name);
  }
  return out;
}

export interface LoadOptions {
  /** An explicit config file; when absent, <data_dir>/homeserver.yaml is used if it exists. */
  configPath?: string;
  env?: NodeJS.ProcessEnv;
  /** Settings given directly (tests): applied last. */
  overrides?: Tree;
}

export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  let tree = parseYaml(readFileSync(defaultConfigPath(), "utf8")) as Tree;
  const envTree = fromEnv(env);
  const dataDir = (opts.overrides?.data_dir ?? envTree.data_dir ?? tree.data_dir) as string;
  const file = opts.configPath ?? (existsSync(join(dataDir, "homeserver.yaml")) ? join(dataDir, "homeserver.yaml") : undefined);
  if (file) {
    const parsed: unknown = parseYaml(readFileSync(file, "utf8"));
    if (parsed !== null && parsed !== undefined) {
      if (!isTree(parsed)) throw new ConfigError(file, "the config file must be a YAML mapping");
      tree = merge(tree, parsed, "");
    }
  }
  tree = merge(tree, envTree, "");
  if (opts.overrides) tree = merge(tree, opts.overrides, "");
  const config = validate(tree, SCHEMA, "") as unknown as Config;
  const fed = config.federation;
  if (fed.tls_port !== 0 && (!fed.tls_certificate_path || !fed.tls_private_key_path)) {
    throw new ConfigError("federation.tls_port", "needs federation.tls_certificate_path and federation.tls_private_key_path");
  }
  if (config.database.engine === "postgres" && !config.database.postgres_url) {
    throw new ConfigError("database.postgres_url", "required when database.engine is postgres");
  }
  return config;
}

export function sqlitePath(config: Config): string {
  return config.database.sqlite_path || join(config.data_dir, "homeserver.db");
}

export function signingKeyPath(config: Config): string {
  return config.signing_key_path || join(config.data_dir, "signing.key");
}
