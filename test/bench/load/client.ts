/**
 * A simulated-clients process (forked by run.ts, never the server's
 * process): for each of its users it uploads an Element-like filter
 * (POST /user/{id}/filter: lazy-loading members, 20 timeline events),
 * makes the initial /sync with it, and once every user has (the parent
 * says "poll") keeps a /sync long-poll open
 * (timeout 30 s, ?filter=id) and re-polls at once with the new token.
 * It sends the messages of the plan it is given at their times (with a
 * typing notification first for some), notes each send's 200 and each
 * bench message's arrival in a recipient's sync on the host's monotonic
 * clock, and posts a read receipt for some of the arrivals.
 * Everything is bounded: the parent says stop, or the child stops itself
 * at its own deadline, or when the parent goes away.
 */
import { setMaxListeners } from "node:events";
import { call, now, pool, rng, sleep } from "./http.js";
import type { SeedUser } from "./seed.js";

export interface ClientInit {
  type: "init";
  url: string;
  offset: number; // global index of users[0]
  users: SeedUser[];
  receiptProb: number;
  syncConcurrency: number;
  seed: number;
  deadlineMs: number; // the child exits by itself after this long
}
export interface PlannedSend {
  at: number; // ms after startAt
  user: number; // global user index
  roomId: string;
  typing: boolean;
  tag: string;
}
export interface ClientResult {
  type: "result";
  sends: Array<{ tag: string; eventId?: string; t200?: number; user: number; roomId: string; error?: string }>;
  arrivals: Record<string, number[]>; // tag → arrival times (recipients only)
  errors: Record<string, number>;
  counts: { syncs: number; arrivals: number; receipts: number; typing: number; typingSeen: number; receiptsSeen: number };
}

const FILTER = {
  room: {
    state: { lazy_load_members: true },
    timeline: { limit: 20, lazy_load_members: true, unread_thread_notifications: true },
  },
};
const POLL_MS = 30_000;

if (process.send === undefined) throw new Error("client.ts runs as a child of run.ts");

let init: ClientInit;
const stopCtrl = new AbortController();
setMaxListeners(0, stopCtrl.signal);
let stopping = false;
const errors: Record<string, number> = {};
const bump = (k: string) => (errors[k] = (errors[k] ?? 0) + 1);
const counts = { syncs: 0, arrivals: 0, receipts: 0, typing: 0, typingSeen: 0, receiptsSeen: 0 };
const arrivals = new Map<string, number[]>();
const sends: ClientResult["sends"] = [];
const pending = new Set<Promise<unknown>>();
const loops: Promise<void>[] = [];
const track = <T>(p: Promise<T>) => {
  pending.add(p);
  void p.finally(() => pending.delete(p));
  return p;
};

interface Session {
  user: SeedUser;
  filterId?: string;
  since?: string;
}
let sessions: Session[] = [];
let initialDone = 0;
let random = Math.random;

function handleSync(s: Session, body: any, at: number): void {
  const join = body?.rooms?.join ?? {};
  for (const roomId of Object.keys(join)) {
    const room = join[roomId];
    for (const ev of room?.timeline?.events ?? []) {
      const tag = ev?.content?.["bench.tag"];
      if (typeof tag !== "string" || ev.sender === s.user.id) continue;
      let list = arrivals.get(tag);
      if (!list) arrivals.set(tag, (list = []));
      list.push(at);
      counts.arrivals++;
      if (random() < init.receiptProb && !stopping) {
        const delay = 500 + random() * 2500;
        track(
          sleep(delay).then(async () => {
            if (stopping) return;
            const r = await call(init.url, "POST", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/receipt/m.read/${encodeURIComponent(ev.event_id)}`, { token: s.user.token, body: {}, timeoutMs: 30_000 });
            if (r.error) bump(`receipt ${r.error}`);
            else counts.receipts++;
          }),
        );
      }
    }
    for (const ev of room?.ephemeral?.events ?? []) {
      if (ev?.type === "m.typing") counts.typingSeen++;
      else if (ev?.type === "m.receipt") counts.receiptsSeen++;
    }
  }
}

async function pollLoop(s: Session): Promise<void> {
  let failures = 0;
  while (!stopping) {
    const q = `filter=${encodeURIComponent(s.filterId ?? "")}&timeout=${POLL_MS}${s.since ? `&since=${encodeURIComponent(s.since)}` : ""}`;
    const r = await call(init.url, "GET", `/_matrix/client/v3/sync?${q}`, { token: s.user.token, timeoutMs: POLL_MS + 30_000, signal: stopCtrl.signal });
    if (stopping) break;
    if (r.error || typeof r.body?.next_batch !== "string") {
      bump(`sync ${r.error ?? "no next_batch"}`);
      failures++;
      await sleep(Math.min(10_000, 500 * failures));
      continue;
    }
    failures = 0;
    counts.syncs++;
    s.since = r.body.next_batch;
    handleSync(s, r.body, r.at);
  }
}

async function start(): Promise<void> {
  sessions = init.users.map((user) => ({ user }));
  // Filter and initial sync for each user, a few at a time. The long-polls start together afterwards ("poll"):
  // started one by one, each newcomer's presence would wake every poll already open, N²/2 responses in all.
  await pool(sessions, init.syncConcurrency, async (s) => {
    const f = await call(init.url, "POST", `/_matrix/client/v3/user/${encodeURIComponent(s.user.id)}/filter`, { token: s.user.token, body: FILTER });
    if (f.error) bump(`filter ${f.error}`);
    s.filterId = f.body?.filter_id;
    for (let attempt = 0; attempt < 5 && !stopping; attempt++) {
      const r = await call(init.url, "GET", `/_matrix/client/v3/sync?filter=${encodeURIComponent(s.filterId ?? "")}&timeout=0`, { token: s.user.token, timeoutMs: 300_000 });
      if (!r.error && typeof r.body?.next_batch === "string") {
        s.since = r.body.next_batch;
        break;
      }
      bump(`initial sync ${r.error ?? "no next_batch"}`);
      await sleep(1000);
    }
    initialDone++;
  });
}

function startPolling(): void {
  for (const s of sessions) loops.push(pollLoop(s));
}

async function send(p: PlannedSend, startAt: number): Promise<void> {
  const s = sessions[p.user - init.offset];
  const room = encodeURIComponent(p.roomId);
  const typingPath = `/_matrix/client/v3/rooms/${room}/typing/${encodeURIComponent(s.user.id)}`;
  if (p.typing) {
    await sleep(Math.max(0, startAt + p.at - 2000 - now()));
    if (stopping) return;
    const t = await call(init.url, "PUT", typingPath, { token: s.user.token, body: { typing: true, timeout: 10_000 }, timeoutMs: 30_000 });
    if (t.error) bump(`typing ${t.error}`);
    else counts.typing++;
  }
  await sleep(Math.max(0, startAt + p.at - now()));
  if (stopping) return;
  const body = { msgtype: "m.text", body: `bench message ${p.tag}`, "bench.tag": p.tag };
  const r = await call(init.url, "PUT", `/_matrix/client/v3/rooms/${room}/send/m.room.message/${encodeURIComponent(p.tag)}`, { token: s.user.token, body, timeoutMs: 60_000 });
  if (r.error || typeof r.body?.event_id !== "string") {
    bump(`send ${r.error ?? "no event_id"}`);
    sends.push({ tag: p.tag, user: p.user, roomId: p.roomId, error: r.error ?? "no event_id" });
    return;
  }
  sends.push({ tag: p.tag, eventId: r.body.event_id, t200: r.at, user: p.user, roomId: p.roomId });
  if (p.typing) {
    const t = await call(init.url, "PUT", typingPath, { token: s.user.token, body: { typing: false }, timeoutMs: 30_000 });
    if (t.error) bump(`typing ${t.error}`);
    else counts.typing++;
  }
}

async function stop(): Promise<void> {
  stopping = true;
  stopCtrl.abort();
  await Promise.race([Promise.allSettled([...loops, ...pending]), sleep(20_000)]);
  const result: ClientResult = { type: "result", sends, arrivals: Object.fromEntries(arrivals), errors, counts };
  process.send!(result, () => process.exit(0));
}

process.on("disconnect", () => process.exit(0));
process.on("message", (m: any) => {
  if (m.type === "init") {
    init = m as ClientInit;
    random = rng(init.seed);
    setTimeout(() => process.exit(3), init.deadlineMs).unref();
    const progress = setInterval(() => process.send!({ type: "progress", initialDone, syncs: counts.syncs }), 10_000);
    void start().then(
      () => {
        clearInterval(progress);
        process.send!({ type: "ready" });
      },
      (err) => process.send!({ type: "fatal", error: String(err?.stack ?? err) }),
    );
  } else if (m.type === "config") {
    init.receiptProb = m.receiptProb as number;
  } else if (m.type === "poll") {
    startPolling();
    process.send!({ type: "polling" });
  } else if (m.type === "plan") {
    for (const p of m.sends as PlannedSend[]) track(send(p, m.startAt as number));
  } else if (m.type === "stop") {
    void stop();
  } else if (m.type === "errors") {
    process.send!({ type: "errors", errors, counts });
  }
});
