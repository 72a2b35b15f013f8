/**
 * The composition root: config -> storage -> engine -> HTTP. The only
 * place (with main.ts) that knows every part; everything else receives
 * what it needs.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { dirname } from "node:path";
import { createClientApi } from "../client-api/index.js";
import { createFederation, type Federation } from "../federation/index.js";
import { signingKeyPath, type Config } from "./config.js";
import type { ServerContext } from "./context.js";
import { formatSigningKeyFile, generateSigningKey, parseSigningKeyFile, type SigningKey } from "./crypto/keys.js";
import { LocalEvents } from "./engine/local-events.js";
import { RemoteEvents } from "./engine/remote-events.js";
import { NoFederation } from "./remote.js";
import { RemoteInvites } from "./rooms/remote-invites.js";
import { OpenIdTokens } from "./ephemeral/openid-tokens.js";
import { EventPersister } from "./engine/persist.js";
import { RoomStateReader } from "./engine/state.js";
import { createApp } from "./http/app.js";
import { RateLimiter } from "./http/rate-limit.js";
import { createLogger, type Logger } from "./logger.js";
import { AccountStore } from "./storage/account-store.js";
import { AccountDataStore } from "./storage/account-data-store.js";
import { AliasStore } from "./storage/alias-store.js";
import { migrate, openDatabase, type Database } from "./storage/database.js";
import { DeviceListStore } from "./storage/device-list-store.js";
import { E2eKeyStore } from "./storage/e2e-key-store.js";
import { deviceListChangeOnJoin, localUsersToTell } from "./e2ee/device-lists.js";
import { EventStore } from "./storage/event-store.js";
import { KeyBackupStore } from "./storage/key-backup-store.js";
import { MediaRepository } from "./media/repository.js";
import { ProfileStore } from "./storage/profile-store.js";
import { ReceiptStore } from "./storage/receipt-store.js";
import { RegistrationTokenStore } from "./storage/registration-token-store.js";
import { serverNameOf } from "./room/identifiers.js";
import { TypingTracker } from "./ephemeral/typing.js";
import { PresenceTracker } from "./ephemeral/presence.js";
import { RoomStore } from "./storage/room-store.js";
import { RelationStore } from "./storage/relation-store.js";
import { SearchStore } from "./storage/search-store.js";
import { StateStore } from "./storage/state-store.js";
import { StreamIdGenerator } from "./storage/stream-ids.js";
import { DehydratedDeviceStore } from "./storage/dehydrated-device-store.js";
import { ToDeviceStore } from "./storage/to-device-store.js";
import { KeyedMutex } from "./util/keyed-mutex.js";
import { Notifier } from "./sync/notifier.js";
import { RoomActivity } from "./sync/room-activity.js";
import { PushRulesStore } from "./storage/push-rules-store.js";
import { PushActionsStore } from "./storage/push-actions-store.js";
import { PushersStore } from "./storage/push-pushers-store.js";
import { PushFanout } from "./push/fanout.js";
import { PushSender } from "./push/sender.js";
import { GatewayClient } from "./push/gateway-client.js";

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
  const roomLocks = new KeyedMutex();
  const localEvents = new LocalEvents(config.server_name, signingKey, rooms, events, stateReader, persister, roomLocks);
  // Remote events get their keys and missing history from federation, which connects itself to them.
  const remoteEvents = new RemoteEvents(events, rooms, states, stateReader, persister, roomLocks, log);
  const accountData = await AccountDataStore.open(db);
  const pushRules = new PushRulesStore(db, accountData, config.push.rule_cache_size);
  const pushActions = new PushActionsStore(db, config.push.expand_delay_ms, (err) => log.warn("expanding push actions failed", { err: String(err) }));
  const pushers = new PushersStore(db);
  const notifier = new Notifier(config.server_name, states);
  const roomActivity = new RoomActivity(eventStream.position);
  const push = {
    rules: pushRules,
    actions: pushActions,
    pushers,
    fanout: new PushFanout(config.server_name, pushRules, pushActions, events, states),
    sender: new PushSender({
      config: config.push, log, pushers, actions: pushActions, events, states, eventStream,
      client: new GatewayClient(config.push.allow_private_addresses, config.push.request_timeout_ms),
      localUsers: (roomId) => notifier.localUsers(roomId),
      joinedRooms: (userId) => states.roomsForUser(userId, "join"),
      memberRooms: async (userId) => (await states.memberships(userId)).map((m) => m.room_id),
    }),
  };
  const context: ServerContext = {
    config, log, db, signingKey, rooms, events, states, stateReader, persister, localEvents, eventStream, remoteEvents, roomLocks,
    remote: new NoFederation(),
    remoteInvites: new RemoteInvites(db, rooms, persister, eventStream, states),
    openIdTokens: new OpenIdTokens(),
    accounts: new AccountStore(db),
    profiles: new ProfileStore(db),
    accountData,
    push,
    receipts: await ReceiptStore.open(db),
    aliases: new AliasStore(db),
    registrationTokens: new RegistrationTokenStore(db),
    e2eKeys: new E2eKeyStore(db),
    deviceLists: await DeviceListStore.open(db),
    toDevice: await ToDeviceStore.open(db),
    keyBackups: new KeyBackupStore(db),
    dehydratedDevices: new DehydratedDeviceStore(db),
    media: await MediaRepository.open(config, db, log),
    typing: new TypingTracker(),
    presence: new PresenceTracker(),
    notifier,
    roomActivity,
    rateLimits: {
      message: new RateLimiter(config.rate_limits.message),
      login: new RateLimiter(config.rate_limits.login),
      registration: new RateLimiter(config.rate_limits.registration),
    },
  };
  // Every change a /sync request may be waiting for wakes exactly the users it concerns.
  // Before the notifier's: a woken sync must find the room marked (both run in the turn the event becomes readable).
  persister.onPersisted(roomActivity.noted);
  persister.onPersisted(notifier.onPersisted);
  // Push rules are evaluated and their counts written in each event's own transaction; gateways are told after commit.
  persister.withinEveryCommit(push.fanout.inCommit);
  persister.onPersisted(push.sender.onPersisted);
  persister.onPersisted(() => push.actions.scheduleExpand());
  // Outcomes a crash left unexpanded are expanded now.
  push.actions.scheduleExpand(0);
  push.actions.startPruning(config.push.keep_notifications_ms);
  void push.sender.start().catch((err) => log.warn("push delivery could not start", { err: String(err) }));
  // The full-text index commits with each event (and drops redacted ones), so it never disagrees with the timeline.
  persister.withinEveryCommit(new SearchStore(db).indexInCommit, { history: true });
  // So does the index of relations (edits, threads, references, reactions) that aggregations and /relations read.
  persister.withinEveryCommit(new RelationStore(db, events).indexInCommit, { history: true });
  context.typing.listen((roomId) => void notifier.wakeRoom(roomId));
  // A receipt moves its user's read position: held unread thresholds are dropped before the write and after it.
  context.receipts.beforeWrite((r) => context.push.actions.readingMoved(r.userId, r.roomId));
  context.receipts.listen((roomId, r) => {
    context.push.actions.readingMoved(r.userId, roomId);
    void notifier.wakeRoom(roomId);
  });
  // A read receipt changes the reader's unread count: their phones' badges hear of it.
  context.receipts.listen((_roomId, r) => {
    if (r.receiptType === "m.read" || r.receiptType === "m.read.private") push.sender.onReceipt(r.userId);
  });
  context.accountData.listen((userId) => notifier.wake([userId]));
  context.remoteInvites.listen((userId) => notifier.wake([userId]));
  // A user of ours wakes only their own syncs (a change wakes everyone sharing a room only when it comes from another server,
  // where changes arrive rarely, batched per transaction): waking every room-mate of every local change would cost n² wake-ups.
  context.presence.listen((userId) => {
    if (serverNameOf(userId) === config.server_name) return notifier.wake([userId]);
    void context.states.roomsForUser(userId, "join").then((rooms) => { for (const r of rooms) void notifier.wakeRoom(r); }, () => {});
  });
  context.toDevice.listen((userIds) => notifier.wake(userIds));
  persister.onPersisted(deviceListChangeOnJoin(context));
  context.deviceLists.listen((userId) => {
    localUsersToTell(context, userId).then((users) => notifier.wake(users), (err) => log.warn("device list wake failed", { err: String(err) }));
  });
  // A device that goes takes its keys, waiting messages and pushers with it, and its owner's contacts hear of it.
  context.accounts.onDevicesRemoved(async (tx, userId, deviceIds) => {
    await context.e2eKeys.deleteDevices(tx.trx, userId, deviceIds);
    await context.toDevice.deleteForDevices(tx.trx, userId, deviceIds);
    await context.dehydratedDevices.deleteForDevices(tx.trx, userId, deviceIds);
    await context.deviceLists.recordIn(tx, userId);
    // A phone that logged out stops being pushed to.
    await context.push.pushers.deleteForDevices(tx.trx, userId, deviceIds);
  });
  return context;
}

/** Stop what runs in the background, then close the database. */
export async function closeContext(context: ServerContext): Promise<void> {
  context.typing.stop();
  context.openIdTokens.close();
  context.push.sender.close();
  await context.push.actions.close();
  await context.notifier.close();
  await context.db.close();
}

export interface RunningServer {
  readonly context: ServerContext;
  readonly federation: Federation;
  readonly server: Server;
  /** The base URL the listener answers on, e.g. http://127.0.0.1:8008 */
  readonly url: string;
  /** The TLS listener's base URL, when federation.tls_port is set. */
  readonly tlsUrl?: string;
  stop(): Promise<void>;
}

function listen(server: Server, port: number, host: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const addr = server.address() as AddressInfo;
      resolve(addr.family === "IPv6" ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export async function startHomeserver(config: Config, log: Logger = createLogger(config.log_level)): Promise<RunningServer> {
  const context = await buildContext(config, log);
  const federation = createFederation(context);
  const app = createApp([createClientApi(context), federation.router], log);
  const servers: Server[] = [];
  // Long-polling /sync holds requests for up to its timeout; keep idle sockets a little longer.
  const tune = (server: Server) => {
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
    server.requestTimeout = 0;
    servers.push(server);
    return server;
  };
  try {
    const plain = tune(createServer(app.callback()));
    const url = `http://${await listen(plain, config.port, config.bind_address)}`;
    let tlsUrl: string | undefined;
    if (config.federation.tls_port !== 0) {
      // The same application over TLS: what other servers reach on 8448 (and clients too, if they like).
      const tls = tune(createTlsServer({
        cert: readFileSync(config.federation.tls_certificate_path),
        key: readFileSync(config.federation.tls_private_key_path),
      }, app.callback()) as unknown as Server);
      tlsUrl = `https://${await listen(tls, config.federation.tls_port, config.bind_address)}`;
    }
    await federation.start();
    log.info("listening", { url, tls_url: tlsUrl, server_name: config.server_name, database: config.database.engine });
    return {
      context,
      federation,
      server: plain,
      url,
      tlsUrl,
      async stop() {
        await Promise.all(servers.map(closeServer));
        federation.close();
        await closeContext(context);
      },
    };
  } catch (err) {
    await Promise.all(servers.map(closeServer));
    federation.close();
    await closeContext(context);
    throw err;
  }
}
