/**
 * What the two API surfaces (client-api/, federation/) may use from the
 * engine. homeserver.ts builds it; the surfaces never construct services.
 */
import type { Config } from "./config.js";
import type { SigningKey } from "./crypto/keys.js";
import type { LocalEvents } from "./engine/local-events.js";
import type { EventPersister } from "./engine/persist.js";
import type { RoomStateReader } from "./engine/state.js";
import type { RemoteEvents } from "./engine/remote-events.js";
import type { RemoteServers } from "./remote.js";
import type { RemoteInvites } from "./rooms/remote-invites.js";
import type { OpenIdTokens } from "./ephemeral/openid-tokens.js";
import type { KeyedMutex } from "./util/keyed-mutex.js";
import type { RateLimiter } from "./http/rate-limit.js";
import type { PresenceTracker } from "./ephemeral/presence.js";
import type { TypingTracker } from "./ephemeral/typing.js";
import type { Logger } from "./logger.js";
import type { AccountStore } from "./storage/account-store.js";
import type { AccountDataStore } from "./storage/account-data-store.js";
import type { AliasStore } from "./storage/alias-store.js";
import type { Database } from "./storage/database.js";
import type { DeviceListStore } from "./storage/device-list-store.js";
import type { E2eKeyStore } from "./storage/e2e-key-store.js";
import type { EventStore } from "./storage/event-store.js";
import type { KeyBackupStore } from "./storage/key-backup-store.js";
import type { MediaRepository } from "./media/repository.js";
import type { ProfileStore } from "./storage/profile-store.js";
import type { ReceiptStore } from "./storage/receipt-store.js";
import type { RegistrationTokenStore } from "./storage/registration-token-store.js";
import type { RoomStore } from "./storage/room-store.js";
import type { StateStore } from "./storage/state-store.js";
import type { StreamIdGenerator } from "./storage/stream-ids.js";
import type { ToDeviceStore } from "./storage/to-device-store.js";
import type { DehydratedDeviceStore } from "./storage/dehydrated-device-store.js";
import type { Notifier } from "./sync/notifier.js";
import type { PushRulesStore } from "./storage/push-rules-store.js";
import type { PushActionsStore } from "./storage/push-actions-store.js";
import type { PushersStore } from "./storage/push-pushers-store.js";
import type { PushFanout } from "./push/fanout.js";
import type { PushSender } from "./push/sender.js";
import type { RoomActivity } from "./sync/room-activity.js";

export interface ServerContext {
  readonly config: Config;
  readonly log: Logger;
  readonly db: Database;
  readonly signingKey: SigningKey;
  readonly accounts: AccountStore;
  readonly profiles: ProfileStore;
  readonly accountData: AccountDataStore;
  readonly receipts: ReceiptStore;
  readonly aliases: AliasStore;
  readonly registrationTokens: RegistrationTokenStore;
  readonly e2eKeys: E2eKeyStore;
  readonly deviceLists: DeviceListStore;
  readonly toDevice: ToDeviceStore;
  readonly keyBackups: KeyBackupStore;
  readonly dehydratedDevices: DehydratedDeviceStore;
  /** Uploads, downloads and thumbnails; federation plugs remote media into it. */
  readonly media: MediaRepository;
  readonly typing: TypingTracker;
  readonly presence: PresenceTracker;
  readonly notifier: Notifier;
  /** Where each room last changed in the event stream: /sync reads only rooms that moved. */
  readonly roomActivity: RoomActivity;
  readonly rateLimits: { readonly message: RateLimiter; readonly login: RateLimiter; readonly registration: RateLimiter };
  readonly rooms: RoomStore;
  readonly events: EventStore;
  readonly states: StateStore;
  readonly stateReader: RoomStateReader;
  readonly persister: EventPersister;
  readonly localEvents: LocalEvents;
  readonly remoteEvents: RemoteEvents;
  /** One lock per room, held while an event is checked and persisted, local or remote. */
  readonly roomLocks: KeyedMutex;
  readonly remoteInvites: RemoteInvites;
  readonly openIdTokens: OpenIdTokens;
  /** Other servers, through federation; plugged in by homeserver.ts once federation is built. */
  remote: RemoteServers;
  readonly eventStream: StreamIdGenerator;
  /** Push notifications: each user's rules, what notified them, their pushers, delivery. */
  readonly push: {
    readonly rules: PushRulesStore;
    readonly actions: PushActionsStore;
    readonly pushers: PushersStore;
    readonly fanout: PushFanout;
    readonly sender: PushSender;
  };
}
