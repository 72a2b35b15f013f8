/**
 * Seeding over the Client-Server API (and the shared-secret admin
 * registration both servers offer): N users, one announcement room with
 * everyone, teams of `teamSize` (a partition of the shuffled users), and
 * `dmPerUser × N` direct-message rooms between random pairs. Bounded
 * concurrency; a request that fails is retried a few times.
 */
import { createHmac } from "node:crypto";
import { call, pool, rng, type Reply } from "./http.js";

export interface Shape {
  users: number;
  teamSize: number;
  dmPerUser: number;
  seed: number;
}

export interface SeedUser {
  id: string;
  token: string;
}
export interface SeedRoom {
  id: string;
  kind: "announce" | "team" | "dm";
  members: number[];
}
export interface Seeded {
  users: SeedUser[];
  rooms: SeedRoom[];
  seconds: { users: number; rooms: number; total: number };
}

export function shapeKey(s: Shape): string {
  return `n${s.users}-t${s.teamSize}-dm${s.dmPerUser}-s${s.seed}`;
}

async function retry(what: string, fn: () => Promise<Reply>): Promise<Reply> {
  let last: Reply | undefined;
  for (let i = 0; i < 5; i++) {
    last = await fn();
    if (!last.error) return last;
    await new Promise((r) => setTimeout(r, 200 * (i + 1)));
  }
  throw new Error(`${what}: ${last?.error} ${JSON.stringify(last?.body ?? "").slice(0, 200)}`);
}

export async function seed(url: string, secret: string, shape: Shape, concurrency: number, log: (s: string) => void): Promise<Seeded> {
  const t0 = Date.now();
  const random = rng(shape.seed);
  const users: SeedUser[] = new Array(shape.users);
  let done = 0;
  const progress = setInterval(() => log(`  seeding: ${done} done`), 10_000);
  try {
    await pool([...Array(shape.users).keys()], concurrency, async (i) => {
      const username = `u${i}`;
      const password = `pw-${i}`;
      const r = await retry(`register ${username}`, async () => {
        const n = await call(url, "GET", "/_synapse/admin/v1/register");
        if (n.error) return n;
        const nonce = n.body.nonce as string;
        const mac = createHmac("sha1", secret).update([nonce, username, password, "notadmin"].join("\u0000")).digest("hex");
        return call(url, "POST", "/_synapse/admin/v1/register", { body: { nonce, username, password, admin: false, mac } });
      });
      users[i] = { id: r.body.user_id, token: r.body.access_token };
      done++;
    });
    const tUsers = Date.now();
    log(`  ${shape.users} users registered in ${((tUsers - t0) / 1000).toFixed(1)} s`);

    // The shape: decided up front from the seed, then made with concurrency.
    const order = [...Array(shape.users).keys()];
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    const plan: Array<{ kind: SeedRoom["kind"]; members: number[] }> = [{ kind: "announce", members: [...Array(shape.users).keys()] }];
    for (let i = 0; i < order.length; i += shape.teamSize) {
      const members = order.slice(i, i + shape.teamSize);
      if (members.length >= 2) plan.push({ kind: "team", members });
    }
    const dms = Math.round(shape.users * shape.dmPerUser);
    for (let i = 0; i < dms && shape.users >= 2; i++) {
      const a = Math.floor(random() * shape.users);
      let b = Math.floor(random() * (shape.users - 1));
      if (b >= a) b++;
      plan.push({ kind: "dm", members: [a, b] });
    }

    const rooms: SeedRoom[] = new Array(plan.length);
    const makeRoom = async (p: (typeof plan)[number], idx: number, joinConcurrency: number) => {
      const creator = users[p.members[0]];
      const body = p.kind === "dm"
        ? { preset: "trusted_private_chat", is_direct: true, invite: [users[p.members[1]].id] }
        : { preset: "public_chat", name: p.kind === "announce" ? "Announcements" : `Team ${idx}` };
      const created = await retry(`createRoom ${p.kind}`, () => call(url, "POST", "/_matrix/client/v3/createRoom", { token: creator.token, body }));
      const roomId = created.body.room_id as string;
      await pool(p.members.slice(1), joinConcurrency, async (m) => {
        await retry(`join ${users[m].id}`, () => call(url, "POST", `/_matrix/client/v3/join/${encodeURIComponent(roomId)}`, { token: users[m].token, body: {} }));
        done++;
      });
      rooms[idx] = { id: roomId, kind: p.kind, members: p.members };
    };
    done = 0;
    // The big room first (joins to one room queue behind each other on both servers), alongside the small ones.
    await Promise.all([
      makeRoom(plan[0], 0, Math.min(concurrency, 8)),
      pool(plan.slice(1), Math.max(1, concurrency), (p, i) => makeRoom(p, i + 1, 4)),
    ]);
    const tRooms = Date.now();
    log(`  ${plan.length} rooms (1 announcement, ${plan.filter((p) => p.kind === "team").length} teams, ${dms} DMs) in ${((tRooms - tUsers) / 1000).toFixed(1)} s`);
    return { users, rooms, seconds: { users: (tUsers - t0) / 1000, rooms: (tRooms - tUsers) / 1000, total: (tRooms - t0) / 1000 } };
  } finally {
    clearInterval(progress);
  }
}
