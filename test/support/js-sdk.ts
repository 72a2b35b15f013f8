/**
 * matrix-js-sdk as a real client of a test server: register through the
 * SDK's own UIA flow, log in, sync. Quiet logs unless TEST_SDK_LOGS is set.
 */
import * as sdk from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

// The SDK logs through loglevel, whose setLevel its types do not expose.
// Its child loggers (per room, per crypto module) force their own level to
// debug, but every line ends in a console call looked up when it is made:
// silence those below warn in the test process.
if (!process.env.TEST_SDK_LOGS) {
  (logger as unknown as { setLevel(level: string): void }).setLevel("error");
  const quiet = () => {};
  console.debug = quiet;
  console.info = quiet;
  console.log = quiet;
}

export type Client = sdk.MatrixClient;

// matrix-js-sdk arms long timers (client-side request timeouts of up to
// about 110 s) that stopClient() leaves running; they would hold a test
// file's process open for minutes after its last test. In the test process
// no timer should keep it alive: while a test runs, the server's listening
// socket does. (Node 20's --test-force-exit is no answer: it drops suites.)
const armTimer = globalThis.setTimeout;
globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => armTimer(...args).unref()) as typeof setTimeout;

/** Register `username` with the SDK (the 401 challenge, then m.login.dummy) and return a logged-in client. */
export async function registerClient(
  baseUrl: string, username: string, password = `pw-${username}`, opts: Partial<sdk.ICreateClientOpts> = {},
): Promise<Client> {
  const anon = sdk.createClient({ baseUrl });
  let res: { user_id: string; access_token?: string; device_id?: string };
  try {
    res = await anon.registerRequest({ username, password });
  } catch (err) {
    const session = (err as { data?: { session?: string } }).data?.session;
    if (!session) throw err;
    res = await anon.registerRequest({ username, password, auth: { type: "m.login.dummy", session } });
  }
  return sdk.createClient({ ...opts, baseUrl, userId: res.user_id, accessToken: res.access_token, deviceId: res.device_id });
}

/** Log in to an existing account on a new device with the SDK. */
export async function loginClient(baseUrl: string, username: string, password = `pw-${username}`, opts: Partial<sdk.ICreateClientOpts> = {}): Promise<Client> {
  const anon = sdk.createClient({ baseUrl });
  const res = await anon.loginRequest({ type: "m.login.password", identifier: { type: "m.id.user", user: username }, password });
  return sdk.createClient({ ...opts, baseUrl, userId: res.user_id, accessToken: res.access_token, deviceId: res.device_id });
}

/** Polls until `check` holds (it may throw while not yet true), or fails after `ms`. */
export async function until(what: string, check: () => boolean | undefined | Promise<boolean | undefined>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
}

export async function started(client: Client, initialSyncLimit = 20): Promise<Client> {
  await client.startClient({ initialSyncLimit, lazyLoadMembers: false });
  await until(`${client.getUserId()} to sync`, () => client.isInitialSyncComplete(), 15_000);
  return client;
}

/** Start Rust crypto (in memory) on a client and sync it; the client is added to `clients`, for the test to stop. */
export async function withRustCrypto(clients: Client[], client: Client): Promise<Client> {
  clients.push(client);
  await client.initRustCrypto({ useIndexedDB: false });
  return started(client);
}

/** Bodies of the messages a client has decrypted in a room, oldest first. */
export async function decryptedBodies(client: Client, roomId: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of client.getRoom(roomId)?.getLiveTimeline().getEvents() ?? []) {
    if (!e.isEncrypted()) continue;
    await client.decryptEventIfNeeded(e);
    if (e.getType() === "m.room.message" && !e.isDecryptionFailure()) out.push(e.getContent().body as string);
  }
  return out;
}

/**
 * The secret-storage key a user creates on one device, handed to their
 * later devices as they would type in their recovery key.
 */
export function recoveryKeyHolder() {
  let key: Uint8Array | undefined;
  return {
    set(k: Uint8Array) {
      key = k;
    },
    cryptoCallbacks: {
      getSecretStorageKey: async ({ keys }: { keys: Record<string, unknown> }): Promise<[string, Uint8Array] | null> =>
        key ? [Object.keys(keys)[0], key] : null,
    },
  };
}

/** Secret storage under a new recovery key (handed to `recovery` for the user's later devices), optionally with a new key backup. */
export async function setUpSecretStorage(client: Client, recovery: ReturnType<typeof recoveryKeyHolder>, opts: { setupNewKeyBackup?: boolean } = {}): Promise<void> {
  const crypto = client.getCrypto()!;
  const generated = await crypto.createRecoveryKeyFromPassphrase();
  recovery.set(generated.privateKey);
  await crypto.bootstrapSecretStorage({ createSecretStorageKey: async () => generated, ...opts });
}

/** Cross-signing set up as Element does on first login: the UIA step answered with the account's password. */
export async function bootstrapCrossSigning(client: Client, password: string): Promise<void> {
  await client.getCrypto()!.bootstrapCrossSigning({
    authUploadDeviceSigningKeys: async (makeRequest) => {
      await makeRequest({ type: "m.login.password", identifier: { type: "m.id.user", user: client.getUserId()! }, password });
    },
  });
}

export { sdk };
