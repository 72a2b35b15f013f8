/**
 * matrix-js-sdk as a real client of a test server: register through the
 * SDK's own UIA flow, log in, sync. Quiet logs unless TEST_SDK_LOGS is set.
 */
import * as sdk from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

// The SDK logs through loglevel, whose setLevel its types do not expose.
if (!process.env.TEST_SDK_LOGS) (logger as unknown as { setLevel(level: string): void }).setLevel("error");

export type Client = sdk.MatrixClient;

// matrix-js-sdk arms long timers (client-side request timeouts of up to
// about 110 s) that stopClient() leaves running; they would hold a test
// file's process open for minutes after its last test. In the test process
// no timer should keep it alive: while a test runs, the server's listening
// socket does. (Node 20's --test-force-exit is no answer: it drops suites.)
const armTimer = globalThis.setTimeout;
globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => armTimer(...args).unref()) as typeof setTimeout;

/** Register `username` with the SDK (the 401 challenge, then m.login.dummy) and return a logged-in client. */
export async function registerClient(baseUrl: string, username: string, password = `pw-${username}`): Promise<Client> {
  const anon = sdk.createClient({ baseUrl });
  let res: { user_id: string; access_token?: string; device_id?: string };
  try {
    res = await anon.registerRequest({ username, password });
  } catch (err) {
    const session = (err as { data?: { session?: string } }).data?.session;
    if (!session) throw err;
    res = await anon.registerRequest({ username, password, auth: { type: "m.login.dummy", session } });
  }
  return sdk.createClient({ baseUrl, userId: res.user_id, accessToken: res.access_token, deviceId: res.device_id });
}

export { sdk };
