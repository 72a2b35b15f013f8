/**
 * A minimal HTTP client for integration tests: JSON in, status and JSON
 * out, and registration through the user-interactive auth handshake.
 */
export interface Reply {
  status: number;
  body: Record<string, any>;
}

export interface Registered {
  user_id: string;
  access_token: string;
  device_id: string;
}

export interface TestHttp {
  call(method: string, path: string, body?: unknown, token?: string): Promise<Reply>;
  register(username: string, password?: string): Promise<Registered>;
}

/** `baseUrl` is read on each call, so a client can be made before the server has started. */
export function testHttp(baseUrl: () => string): TestHttp {
  const call = async (method: string, path: string, body?: unknown, token?: string): Promise<Reply> => {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(`${baseUrl()}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };
  const register = async (username: string, password = `pw-${username}`): Promise<Registered> => {
    const first = await call("POST", "/_matrix/client/v3/register", { username, password });
    const done = await call("POST", "/_matrix/client/v3/register", { username, password, auth: { type: "m.login.dummy", session: first.body.session } });
    if (done.status !== 200) throw new Error(`registering ${username}: ${done.status} ${JSON.stringify(done.body)}`);
    return done.body as Registered;
  };
  return { call, register };
}
