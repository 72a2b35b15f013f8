/**
 * The composition root: config -> storage -> engine -> HTTP. The only
 * place (with main.ts) that knows every part; everything else receives
 * what it needs.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname } from "node:path";
import { createClientApi } from "../client-api/index.js";
import { signingKeyPath, type Config } from "./config.js";
import type { ServerContext } from "./context.js";
import { formatSigningKeyFile, generateSigningKey, parseSigningKeyFile, type SigningKey } from "./crypto/keys.js";
import { LocalEvents } from "./engine/local-events.js";
import { EventPersister } from "./engine/persist.js";
import { RoomStateReader } from "./engine/state.js";
import { createApp } from "./http/app.js";
import { RateLimiter } from "./http/rate-limit.js";
import { createLogger, type Logger } from "./logger.js";
import { AccountStore } from "./storage/account-store.js";
import { AccountDataStore } from "./storage/account-data-store.js";
import { AliasStore } from "./storage/alias-store.js";
import { migrate, openDatabase, type Database } from "./storage/database.js";
import { EventStore } from "./storage/event-store.js";
import { KeyBackupStore } from "./storage/key-backup-store.js";
import { ProfileStore } from "./storage/profile-store.js";
import { ReceiptStore } from "./storage/receipt-store.js";
import { RegistrationTokenStore } from "./storage/registration-token-store.js";
import { TypingTracker } from "./ephemeral/typing.js";
import { PresenceTracker } from "./ephemeral/presence.js";
import { RoomStore } from "./storage/room-store.js";
import { StateStore } from "./storage/state-store.js";
import { StreamIdGenerator } from "./storage/stream-ids.js";
import { KeyedMutex } from "./util/keyed-mutex.js";
import { Notifier } from "./sync/notifier.js";

/** Read the signing key, generating and saving one on first start. */
export function loadOrCreateSigningKey(path: string, log?: Logger): SigningKey {
  if (existsSync(path)) {
    const keys = parseSigningKeyFile(readFileSync(path, "utf8"));
    if (keys.length === 0) throw new Error(`no signing key in ${path}`);
    return keys[0];
  }
  const key = generateSigningKey();
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, formatSigningKeyFile(key), { mode: 0o600 });
  chmodSync(path, 0o600);
  log?.info("generated a new signing key", { path, key_id: key.keyId });
  return key;
}

export async function buildContext(config: Config, log: Logger): Promise<ServerContext> {
  const db = openDatabase(config);
  try {
    await migrate(db);
    return await assemble(config, log, db);
  } catch (err) {
    await db.close();
    throw err;
  }
}

async function assemble(config: Config, log: Logger, db: Database): Promise<ServerContext> {
  const signingKey = loadOrCreateSigningKey(signingKeyPath(config), log);
  const rooms = new RoomStore(db);
  const events = new EventStore(db, config.event_cache_size);
  const states = new StateStore(db, config.state_cache_size, config.state_delta_chain_max);
  const maxRow = await db.knex("events").max({ max: "stream_ordering" }).first();
  const eventStream = new StreamIdGenerator(Number(maxRow?.max ?? 0));
  const persister = new EventPersister(db, rooms, events, states, eventStream);
  const stateReader = new RoomStateReader(events, states);
  const localEvents = new LocalEvents(config.server_name, signingKey, rooms, events, stateReader, persister, new KeyedMutex());
  const context: ServerContext = {
    config, log, db, signingKey, rooms, events, states, stateReader, persister, localEvents, eventStream,
    accounts: new AccountStore(db),
    profiles: new ProfileStore(db),
    accountData: await AccountDataStore.open(db),
    receipts: await ReceiptStore.open(db),
    aliases: new AliasStore(db),
    registrationTokens: new RegistrationTokenStore(db),
    keyBackups: new KeyBackupStore(db),
    typing: new TypingTracker(),
    presence: new PresenceTracker(),
    notifier: new Notifier(config.server_name, states),
    rateLimits: {
      message: new RateLimiter(config.rate_limits.message),
      login: new RateLimiter(config.rate_limits.login),
      registration: new RateLimiter(config.rate_limits.registration),
    },
  };
  // Every change a /sync request may be waiting for wakes exactly the users it concerns.
  const { notifier } = context;
  persister.onPersisted(notifier.onPersisted);
  context.typing.listen((roomId) => void notifier.wakeRoom(roomId));
  context.receipts.listen((roomId) => void notifier.wakeRoom(roomId));
  context.accountData.listen((userId) => notifier.wake([userId]));
  context.presence.listen((userId) => notifier.wake([userId]));
  return context;
}

/** Stop what runs in the background, then close the database. */
export async function closeContext(context: ServerContext): Promise<void> {
  context.typing.stop();
  await context.notifier.close();
  await context.db.close();
}

export interface RunningServer {
  readonly context: ServerContext;
  readonly server: Server;
  /** The base URL the listener answers on, e.g. http://127.0.0.1:8008 */
  readonly url: string;
  stop(): Promise<void>;
}

export async function startHomeserver(config: Config, log: Logger = createLogger(config.log_level)): Promise<RunningServer> {
  const context = await buildContext(config, log);
  const app = createApp([createClientApi(context)], log);
  const server = createServer(app.callback());
  // Long-polling /sync holds requests for up to its timeout; keep idle sockets a little longer.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.port, config.bind_address, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;
  log.info("listening", { url, server_name: config.server_name, database: config.database.engine });
  return {
    context,
    server,
    url,
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await closeContext(context);
    },
  };
}
