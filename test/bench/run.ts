/**
 * The load generator of issue 7: seeds N users and rooms of a realistic
 * shape (cached as PostgreSQL template databases), starts a homeserver in
 * its own process (ours or Synapse, optionally capped like a Raspberry Pi
 * 4B in a cgroup), runs simulated Element-like clients in child processes
 * and prints one table: delivery latency send-200 → arrival in each
 * recipient's /sync, errors, server RSS and CPU.
 *
 *   npm run bench -- --scenario idle|fanout|mixed --server ours|synapse|both
 *                    [--users N] [--db postgres|sqlite] [--pi] [--json out.json] ...
 *
 * See test/bench/README.md. Loopback only; bounded in time; stops itself
 * and everything it started (servers, clients, PostgreSQL, cgroups).
 */
import { fork, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { cgroupV1Available, createPiBox, type PiBox } from "./load/cgroup.js";
import { cleanupAll, installSignalHandlers, onCleanup } from "./load/cleanup.js";
import type { ClientInit, ClientResult, PlannedSend } from "./load/client.js";
import { now, rng, sleep } from "./load/http.js";
import { startCluster, type Cluster } from "./load/postgres.js";
import { ProcSampler, sampleProc } from "./load/procstat.js";
import { percentiles, table, type RunResult } from "./load/report.js";
import { seed, shapeKey, type Seeded, type Shape } from "./load/seed.js";
import { startServer, type DbChoice, type ServerKind } from "./load/servers.js";

const USAGE = `usage: npm run bench -- [options]
  --scenario idle|fanout|mixed   what to measure (default mixed); a list (idle,mixed) runs them in turn on one server and one set of sessions
  --server ours|synapse|both     which homeserver; both runs them one after the other on the same shape (default ours)
  --db postgres|sqlite           database (default postgres; sqlite for ours only)
  --users N                      users (default 1000 for fanout, 500 otherwise; at most 20000)
  --team-size N                  members per team room (default 40)
  --dm-per-user X                DM rooms per user (default 0.5: N/2 rooms between random pairs)
  --rate R                       mixed: messages per second in total (default 5)
  --mix dm=0.6,team=0.395,announce=0.005   mixed: share of messages per room kind
  --duration S                   measured window in seconds (default idle 40, mixed 60; at most 600)
  --fanout-messages K            fanout: messages into the announcement room (default 3)
  --fanout-spacing S             fanout: seconds between them (default 10)
  --receipt-prob P               share of arrivals a recipient sends a read receipt for (default 0.1 in mixed, 0 in fanout)
  --typing-prob P                share of sends preceded by a typing notification (default 0.2)
  --settle S                     seconds at least between the start of the long-polls and the measured window (default 10)
  --settle-max S                 ... and at most, waiting until the last 30 s saw about one sync response per user (default 180)
  --drain-max S                  fanout/mixed: seconds after the last send to wait for deliveries still missing (default 60)
  --procs K                      client processes (default ceil(users/2500))
  --seed-concurrency C           requests in flight while seeding (default 16)
  --sync-concurrency C           initial syncs in flight per client process (default 16)
  --pi                           cap the server like a Raspberry Pi 4B (cgroup v1: --pi-cpu cores, --pi-mem-gib GiB)
  --pi-both                      run the scenarios uncapped, then move the server into the Pi box and run them again (same sessions)
  --pi-cpu X                     cores of this machine that stand for the Pi (default 0.25; see calibrate.js)
  --pi-mem-gib G                 memory limit (default 4)
  --pi-from measured|start       cap from the measured phase (seeding and initial syncs uncapped, default) or from server start
  --json PATH                    also write the figures as JSON
  --cache-dir DIR                seeded databases and PostgreSQL cluster (default /tmp/pimatrix-bench)
  --no-cache                     seed afresh even when a cached seed exists
  --seed-only                    make (or check) the cached seed and stop
  --keep-postgres                leave the PostgreSQL cluster running at the end (a running one is always reused and left alone);
                                 stop it with: runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_ctl -D <cache-dir>/pg/data stop
  --pg-port P                    port of the private PostgreSQL cluster (default 55440)
  --seed N                       PRNG seed for the shape and the send plan (default 1)
  --max-minutes M                overall deadline; everything is stopped after it (default 45)
`;

const { values: a } = parseArgs({
  options: {
    scenario: { type: "string", default: "mixed" },
    server: { type: "string", default: "ours" },
    db: { type: "string", default: "postgres" },
    users: { type: "string" },
    "team-size": { type: "string", default: "40" },
    "dm-per-user": { type: "string", default: "0.5" },
    rate: { type: "string", default: "5" },
    mix: { type: "string", default: "dm=0.6,team=0.395,announce=0.005" },
    duration: { type: "string" },
    "fanout-messages": { type: "string", default: "3" },
    "fanout-spacing": { type: "string", default: "10" },
    "receipt-prob": { type: "string" },
    "typing-prob": { type: "string", default: "0.2" },
    settle: { type: "string", default: "10" },
    "settle-max": { type: "string", default: "180" },
    "drain-max": { type: "string", default: "60" },
    procs: { type: "string" },
    "seed-concurrency": { type: "string", default: "16" },
    "sync-concurrency": { type: "string", default: "16" },
    pi: { type: "boolean", default: false },
    "pi-both": { type: "boolean", default: false },
    "pi-cpu": { type: "string", default: "0.25" },
    "pi-mem-gib": { type: "string", default: "4" },
    "pi-from": { type: "string", default: "measured" },
    json: { type: "string" },
    "cache-dir": { type: "string", default: "/tmp/pimatrix-bench" },
    "no-cache": { type: "boolean", default: false },
    "seed-only": { type: "boolean", default: false },
    "keep-postgres": { type: "boolean", default: false },
    "pg-port": { type: "string", default: "55440" },
    seed: { type: "string", default: "1" },
    "max-minutes": { type: "string", default: "45" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (a.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const fail = (msg: string): never => {
  process.stderr.write(`${msg}\n\n${USAGE}`);
  process.exit(2);
};
const num = (name: string, v: string | undefined, min: number, max: number): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) fail(`--${name} must be a number from ${min} to ${max}`);
  return n;
};
type Scenario = "idle" | "fanout" | "mixed";
// One or more, comma-separated: they run one after the other on the same server and sessions (idle first is best).
const scenarios = a.scenario!.split(",") as Scenario[];
if (!scenarios.length || !scenarios.every((x) => ["idle", "fanout", "mixed"].includes(x))) fail("--scenario must be idle, fanout or mixed (or a comma-separated list of them)");
const scenario = scenarios.join(",");
if (!["ours", "synapse", "both"].includes(a.server!)) fail("--server must be ours, synapse or both");
const engine = a.db as "postgres" | "sqlite";
if (!["postgres", "sqlite"].includes(engine)) fail("--db must be postgres or sqlite");
if (engine === "sqlite" && a.server !== "ours") fail("--db sqlite is for --server ours only");
const kinds: ServerKind[] = a.server === "both" ? ["ours", "synapse"] : [a.server as ServerKind];
const users = Math.round(num("users", a.users ?? (scenarios.includes("fanout") ? "1000" : "500"), 2, 20_000));
const shape: Shape = { users, teamSize: Math.round(num("team-size", a["team-size"], 2, 10_000)), dmPerUser: num("dm-per-user", a["dm-per-user"], 0, 10), seed: Math.round(num("seed", a.seed, 0, 2 ** 31)) };
const rate = num("rate", a.rate, 0, 10_000);
const mix = Object.fromEntries(a.mix!.split(",").map((kv) => kv.split("=")).map(([k, v]) => [k, Number(v)])) as Record<string, number>;
const durationOf = (sc: Scenario) => num("duration", a.duration ?? (sc === "idle" ? "40" : "60"), 1, 600);
const fanoutMessages = Math.round(num("fanout-messages", a["fanout-messages"], 1, 100));
const fanoutSpacing = num("fanout-spacing", a["fanout-spacing"], 0, 120);
const receiptProbOf = (sc: Scenario) => num("receipt-prob", a["receipt-prob"] ?? (sc === "mixed" ? "0.1" : "0"), 0, 1);
const typingProb = num("typing-prob", a["typing-prob"], 0, 1);
const settle = num("settle", a.settle, 0, 300);
const settleMax = num("settle-max", a["settle-max"], settle, 900);
const drainMax = num("drain-max", a["drain-max"], 0, 600);
const procs = Math.round(num("procs", a.procs ?? String(Math.ceil(users / 2500)), 1, 16));
const seedConcurrency = Math.round(num("seed-concurrency", a["seed-concurrency"], 1, 256));
const syncConcurrency = Math.round(num("sync-concurrency", a["sync-concurrency"], 1, 256));
const piCpu = num("pi-cpu", a["pi-cpu"], 0.01, 64);
const piMem = num("pi-mem-gib", a["pi-mem-gib"], 0.1, 1024) * 2 ** 30;
const piFrom = a["pi-from"] as "measured" | "start";
if (!["measured", "start"].includes(piFrom)) fail("--pi-from must be measured or start");
const cacheDir = a["cache-dir"]!;
const pgPort = Math.round(num("pg-port", a["pg-port"], 1024, 65535));
const maxMinutes = num("max-minutes", a["max-minutes"], 1, 600);
const piWanted = a.pi || a["pi-both"];
if (piWanted && cgroupV1Available()) fail(`--pi: ${cgroupV1Available()}`);
if (a["pi-both"] && piFrom === "start") fail("--pi-both caps the server half way; it does not go with --pi-from start");

const log = (s: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${s}\n`);
const clientJs = join(fileURLToPath(new URL(".", import.meta.url)), "load", "client.js");

installSignalHandlers(maxMinutes * 60_000);

function dbChoice(cluster: Cluster | undefined, database: string): DbChoice {
  return cluster ? { engine: "postgres", pg: { host: "127.0.0.1", port: cluster.port, user: "postgres", database } } : { engine: "sqlite" };
}

/** A seeded server directory and database for kind+shape: from the cache, or made now. */
async function seeded(kind: ServerKind, cluster: Cluster | undefined): Promise<{ dir: string; template: string; data: Seeded; cached: boolean }> {
  const key = `${kind}-${engine}-${shapeKey(shape)}`;
  const template = `seed_${key}`.replace(/[^a-z0-9]/gi, "_").toLowerCase();
  const dir = join(cacheDir, "seeds", key);
  const meta = join(dir, "seed.json");
  if (!a["no-cache"] && existsSync(meta) && (!cluster || (await cluster.exists(template)))) {
    log(`${kind}: using the cached seed ${key}`);
    return { dir, template, data: JSON.parse(readFileSync(meta, "utf8")), cached: true };
  }
  log(`${kind}: seeding ${key} (${users} users) ...`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, "server"), { recursive: true });
  if (cluster) {
    await cluster.drop(template);
    await cluster.query(`CREATE DATABASE ${template}`);
    // Seeding need not wait for WAL flushes; the setting stays with this database, not with its copies.
    await cluster.query(`ALTER DATABASE ${template} SET synchronous_commit = off`);
  }
  const server = await startServer(kind, join(dir, "server"), dbChoice(cluster, template));
  let data: Seeded;
  try {
    data = await seed(server.url, server.secret, shape, seedConcurrency, log);
  } finally {
    await server.stop();
  }
  writeFileSync(meta, JSON.stringify(data));
  log(`${kind}: seeded in ${data.seconds.total.toFixed(1)} s`);
  return { dir, template, data, cached: false };
}

function plan(scenario: Scenario, data: Seeded): PlannedSend[] {
  const duration = durationOf(scenario);
  const random = rng(shape.seed + 7);
  const out: PlannedSend[] = [];
  const announce = data.rooms.find((r) => r.kind === "announce")!;
  if (scenario === "fanout") {
    for (let i = 0; i < fanoutMessages; i++) out.push({ at: i * fanoutSpacing * 1000, user: announce.members[0], roomId: announce.id, typing: false, tag: `f${i}` });
  } else if (scenario === "mixed") {
    const byKind: Record<string, typeof data.rooms> = { announce: [], team: [], dm: [] };
    for (const r of data.rooms) byKind[r.kind].push(r);
    const kindsW = Object.entries(mix).filter(([k, w]) => w > 0 && byKind[k]?.length);
    const totalW = kindsW.reduce((s, [, w]) => s + w, 0);
    const count = Math.round(rate * duration);
    let t = 0;
    for (let i = 0; i < count; i++) {
      t += -Math.log(1 - random()) * (1000 / rate); // Poisson arrivals at the total rate
      if (t > duration * 1000) break;
      let pick = random() * totalW;
      let kind = kindsW[0][0];
      for (const [k, w] of kindsW) {
        kind = k;
        if ((pick -= w) <= 0) break;
      }
      const rooms = byKind[kind];
      const room = rooms[Math.floor(random() * rooms.length)];
      const user = room.members[Math.floor(random() * room.members.length)];
      out.push({ at: t, user, roomId: room.id, typing: random() < typingProb, tag: `m${i}` });
    }
  }
  return out;
}

async function runOne(kind: ServerKind, cluster: Cluster | undefined): Promise<RunResult[]> {
  const s = await seeded(kind, cluster);
  const runDb = `run_${kind}`;
  const runDir = join(cacheDir, "runs", kind);
  rmSync(runDir, { recursive: true, force: true });
  mkdirSync(join(cacheDir, "runs"), { recursive: true });
  cpSync(join(s.dir, "server"), runDir, { recursive: true });
  if (cluster) {
    await cluster.clone(s.template, runDb);
    onCleanup(`drop ${runDb}`, () => cluster.drop(runDb));
  }
  const server = await startServer(kind, runDir, dbChoice(cluster, runDb));
  log(`${kind}: server pid ${server.pid} at ${server.url}`);
  let box: PiBox | undefined;
  let removeBox: (() => Promise<void>) | undefined;
  if (piWanted) {
    box = createPiBox(`pimatrix-bench-${process.pid}-${kind}`, piCpu, piMem);
    const b = box;
    removeBox = onCleanup(`cgroup ${kind}`, () => b.remove());
    if (piFrom === "start") box.move(server.pid);
  }
  const sampler = new ProcSampler(server.pid, 500);
  sampler.start();
  const stopSampler = onCleanup("sampler", () => sampler.stop());
  await sleep(3000);
  const rssStart = sampleProc(server.pid)?.rssMb ?? 0;

  // Client processes, users split between them in order.
  const per = Math.ceil(users / procs);
  const children: ChildProcess[] = [];
  const t0 = Date.now();
  const readies: Promise<void>[] = [];
  const progress: number[] = [];
  const progressTimer = setInterval(() => log(`  initial syncs: ${progress.reduce((x, y) => x + y, 0)} of ${users} done`), 10_000);
  for (let k = 0; k < procs; k++) {
    const offset = k * per;
    const slice = s.data.users.slice(offset, offset + per);
    if (!slice.length) break;
    const child = fork(clientJs, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    children.push(child);
    onCleanup(`client ${k}`, () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    });
    readies.push(new Promise((resolve, reject) => {
      child.on("message", (m: any) => {
        if (m.type === "progress") progress[k] = m.initialDone;
        if (m.type === "ready") resolve();
        if (m.type === "fatal") reject(new Error(`client ${k}: ${m.error}`));
      });
      child.once("exit", (code) => reject(new Error(`client ${k} exited (${code}) before it was ready`)));
    }));
    const init: ClientInit = { type: "init", url: server.url, offset, users: slice, receiptProb: 0, syncConcurrency, seed: shape.seed * 100 + k, deadlineMs: maxMinutes * 60_000 };
    child.send(init);
  }
  try {
    await Promise.all(readies);
  } finally {
    clearInterval(progressTimer);
  }
  const initialSyncSec = (Date.now() - t0) / 1000;
  await Promise.all(children.map((child) => new Promise<void>((resolve) => {
    const on = (m: any) => {
      if (m.type === "polling") {
        child.off("message", on);
        resolve();
      }
    };
    child.on("message", on);
    child.send({ type: "poll" });
  })));
  log(`${kind}: ${users} users made their initial sync in ${initialSyncSec.toFixed(1)} s; all are long-polling now`);
  const tally = () => Promise.all(children.map((child) => new Promise<{ syncs: number; arrivals: number }>((resolve) => {
    const on = (m: any) => {
      if (m.type === "errors") {
        child.off("message", on);
        resolve(m.counts);
      }
    };
    child.on("message", on);
    child.send({ type: "errors" });
  }))).then((l) => ({ syncs: l.reduce((x, y) => x + y.syncs, 0), arrivals: l.reduce((x, y) => x + y.arrivals, 0) }));
  const countsNow = async () => (await tally()).syncs;
  if (box && piFrom === "measured" && !a["pi-both"]) box.move(server.pid);
  if (box && !a["pi-both"]) log(`${kind}: capped: ${box.describe}; PostgreSQL and the clients stay outside`);

  // Settle: at least --settle seconds, then until the polls come back at little more than the idle
  // rate (each user once per 30 s): the first polls return at once with everyone's new presence.
  const settleFrom = Date.now();
  await sleep(settle * 1000);
  // Over a sliding 30 s (one re-poll cycle, as the polls may time out in step): about N responses, neither
  // many more (still catching up on presence) nor many fewer (an overloaded server answers slowly).
  const history: Array<{ t: number; syncs: number }> = [{ t: Date.now(), syncs: await countsNow() }];
  while (Date.now() - settleFrom < settleMax * 1000) {
    await sleep(5000);
    history.push({ t: Date.now(), syncs: await countsNow() });
    const from = history.find((h) => h.t >= Date.now() - 30_500) ?? history[0];
    const span = (Date.now() - from.t) / 1000;
    if (span < 29) continue;
    const inCycle = history[history.length - 1].syncs - from.syncs;
    if (inCycle <= 2 * users + 10 && inCycle >= 0.5 * users) break;
    log(`  settling: ${inCycle} sync responses in the last 30 s (idle: about ${users})`);
  }
  const settleSec = (Date.now() - settleFrom) / 1000;

  // The measured windows, one per scenario.
  const snapshot = () => Promise.all(children.map((child) => new Promise<{ errors: Record<string, number>; counts: ClientResult["counts"] }>((resolve) => {
    const on = (m: any) => {
      if (m.type === "errors") {
        child.off("message", on);
        resolve({ errors: { ...m.errors }, counts: m.counts });
      }
    };
    child.on("message", on);
    child.send({ type: "errors" });
  }))).then((l) => {
    const errors: Record<string, number> = {};
    const counts = { syncs: 0, arrivals: 0, receipts: 0, typing: 0 };
    for (const x of l) {
      for (const [k, n] of Object.entries(x.errors)) errors[k] = (errors[k] ?? 0) + n;
      counts.syncs += x.counts.syncs;
      counts.arrivals += x.counts.arrivals;
      counts.receipts += x.counts.receipts;
      counts.typing += x.counts.typing;
    }
    return { errors, counts };
  });
  interface Window {
    scenario: Scenario;
    capped: boolean;
    tags: Set<string>;
    messages: number;
    samples: typeof sampler.samples;
    errors: Record<string, number>;
    syncs: number;
    receipts: number;
    typing: number;
    cgroup?: ReturnType<PiBox["stats"]>;
  }
  const windows: Window[] = [];
  const membersOf = new Map(s.data.rooms.map((r) => [r.id, r.members.length]));
  const phases = [
    ...scenarios.map((sc) => ({ sc, capped: !!box && !a["pi-both"] })),
    ...(a["pi-both"] ? scenarios.map((sc) => ({ sc, capped: true })) : []),
  ];
  for (const [i, { sc, capped }] of phases.entries()) {
    if (capped && box && a["pi-both"] && !phases[i - 1]?.capped) {
      box.move(server.pid);
      log(`${kind}: capped now: ${box.describe}; PostgreSQL and the clients stay outside`);
    }
    if (i > 0) await sleep(settle * 1000); // a pause between scenarios
    const duration = durationOf(sc);
    for (const child of children) child.send({ type: "config", receiptProb: receiptProbOf(sc) });
    const before = await snapshot();
    const cgBefore = box?.stats();
    const windowFrom = sampler.samples.length;
    sampler.take();
    const sends = plan(sc, s.data).map((p) => ({ ...p, tag: `${i}-${p.tag}` }));
    const startAt = now() + 1000;
    for (let k = 0; k < children.length; k++) {
      const mine = sends.filter((p) => Math.floor(p.user / per) === k);
      children[k].send({ type: "plan", startAt, sends: mine });
    }
    const lastSend = sends.length ? Math.max(...sends.map((p) => p.at)) : 0;
    const expectedAll = sends.reduce((x, p) => x + (membersOf.get(p.roomId) ?? 1) - 1, 0);
    log(`${kind}: measuring ${sc}${capped ? " (capped)" : ""}: ${sc === "idle" ? `${duration} s` : `${sends.length} messages over ${(lastSend / 1000).toFixed(0)} s, ${expectedAll} deliveries expected, then up to ${drainMax} s for the last ones`}`);
    await sleep(1000 + (sc === "idle" ? duration * 1000 : lastSend + 2000));
    if (sc !== "idle") {
      // Drain: until every delivery has come (or --drain-max), so the slowest one is measured rather than lost.
      for (const until = Date.now() + drainMax * 1000; Date.now() < until; ) {
        const got = (await snapshot()).counts.arrivals - before.counts.arrivals;
        if (got >= expectedAll) break;
        await sleep(1000);
      }
    }
    sampler.take();
    const after = await snapshot();
    const errors: Record<string, number> = {};
    for (const [k, n] of Object.entries(after.errors)) if (n - (before.errors[k] ?? 0) > 0) errors[k] = n - (before.errors[k] ?? 0);
    const cgAfter = box?.stats();
    windows.push({
      scenario: sc, capped, tags: new Set(sends.map((p) => p.tag)), messages: sends.length,
      samples: sampler.samples.slice(windowFrom), errors,
      syncs: after.counts.syncs - before.counts.syncs, receipts: after.counts.receipts - before.counts.receipts, typing: after.counts.typing - before.counts.typing,
      cgroup: cgBefore && cgAfter ? {
        throttledSec: cgAfter.throttledSec - cgBefore.throttledSec, periods: cgAfter.periods - cgBefore.periods,
        throttledPeriods: cgAfter.throttledPeriods - cgBefore.throttledPeriods, memMaxMb: cgAfter.memMaxMb,
      } : undefined,
    });
  }

  // Collect and stop the clients, then the server.
  const results = await Promise.all(children.map((child) => new Promise<ClientResult | undefined>((resolve) => {
    const t = setTimeout(() => resolve(undefined), 45_000);
    child.on("message", (m: any) => {
      if (m.type === "result") {
        clearTimeout(t);
        resolve(m as ClientResult);
      }
    });
    child.once("exit", () => resolve(undefined));
    child.send({ type: "stop" });
  })));
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  // The warm server without sessions: what holding them cost is steady minus this.
  await sleep(10_000);
  const rssLeft = sampleProc(server.pid)?.rssMb ?? 0;
  await stopSampler();
  const hwm = sampleProc(server.pid)?.hwmMb ?? 0;
  await removeBox?.();
  await server.stop();
  if (cluster) await cluster.drop(runDb);

  // Latency: from the send's 200 to each recipient's arrival, both on the host's monotonic clock.
  const lost: Record<string, number> = {};
  const arrivals = new Map<string, number[]>();
  const sent = new Map<string, { t200: number; roomId: string }>();
  let syncs = 0;
  results.forEach((r, k) => {
    if (!r) {
      lost[`client ${k} gave no result`] = 1;
      return;
    }
    for (const [tag, times] of Object.entries(r.arrivals)) {
      const list = arrivals.get(tag) ?? [];
      list.push(...times);
      arrivals.set(tag, list);
    }
    for (const x of r.sends) if (x.t200 !== undefined) sent.set(x.tag, { t200: x.t200, roomId: x.roomId });
    syncs += r.counts.syncs;
  });
  const out: RunResult[] = [];
  for (const w of windows) {
    const errors: Record<string, number> = { ...w.errors, ...lost };
    const lat: number[] = [];
    let expected = 0, arrived = 0, early = 0;
    for (const [tag, x] of sent) {
      if (!w.tags.has(tag)) continue;
      expected += (membersOf.get(x.roomId) ?? 1) - 1;
      for (const t of arrivals.get(tag) ?? []) {
        arrived++;
        const d = t - x.t200;
        if (d < 0) early++;
        lat.push(Math.max(0, d));
      }
    }
    const missing = Math.max(0, expected - arrived);
    if (missing) errors["not delivered in the window"] = missing;
    const first = w.samples[0], last = w.samples[w.samples.length - 1];
    const secs = first && last ? (last.t - first.t) / 1000 : 0;
    const cpuSec = first && last ? last.cpuSec - first.cpuSec : 0;
    const steadyList = w.samples.slice(Math.floor(w.samples.length / 2)).map((x) => x.rssMb).sort((x, y) => x - y);
    out.push({
      scenario: w.scenario, server: kind, db: engine, users,
      cap: w.capped ? `pi ${piCpu} core/${(piMem / 2 ** 30).toFixed(0)}G from ${a["pi-both"] ? "2nd half" : piFrom}` : "none",
      seed: { cached: s.cached, seconds: s.data.seconds.total },
      initialSyncSec, settleSec, windowSec: secs, messages: w.messages,
      deliveries: { expected, arrived, missing, beforeSend200: early },
      latencyMs: percentiles(lat),
      errors, errorTotal: Object.values(errors).reduce((x, y) => x + y, 0),
      rssMb: { start: rssStart, steady: steadyList[Math.floor(steadyList.length / 2)] ?? 0, peak: Math.max(0, ...w.samples.map((x) => x.rssMb)), hwm, left: rssLeft },
      cpu: { secPerMin: secs ? (cpuSec / secs) * 60 : 0, pctOfCore: secs ? (cpuSec / secs) * 100 : 0 },
      syncs, windowSyncs: w.syncs, receipts: w.receipts, typing: w.typing,
      cgroup: w.capped ? w.cgroup : undefined,
    });
  }
  log(`${kind}: done (${syncs} sync responses in all)`);
  return out;
}

async function main(): Promise<void> {
  mkdirSync(cacheDir, { recursive: true });
  let cluster: Cluster | undefined;
  if (engine === "postgres") {
    const c = await startCluster(join(cacheDir, "pg"), pgPort, a["keep-postgres"]);
    cluster = c;
    log(`PostgreSQL 15: private cluster on 127.0.0.1:${pgPort} (${join(cacheDir, "pg")})${c.shared ? ", already running: used and left running" : a["keep-postgres"] ? ", left running afterwards (--keep-postgres)" : ""}`);
  }
  if (a["seed-only"]) {
    for (const kind of kinds) await seeded(kind, cluster);
    await cleanupAll();
    return;
  }
  const results: RunResult[] = [];
  for (const kind of kinds) results.push(...(await runOne(kind, cluster)));
  await cleanupAll();

  const out: string[] = [];
  out.push(`bench: scenario ${scenario}, ${users} users (announcement room of ${users}, teams of ${shape.teamSize}, ${Math.round(users * shape.dmPerUser)} DMs), db ${engine}, loopback`);
  for (const sc of scenarios) {
    if (sc === "mixed") out.push(`mixed: ${rate} msg/s for ${durationOf(sc)} s, rooms ${a.mix}, receipts for ${receiptProbOf(sc) * 100}% of arrivals, typing before ${typingProb * 100}% of sends`);
    if (sc === "fanout") out.push(`fanout: ${fanoutMessages} message(s) ${fanoutSpacing} s apart into the ${users}-member announcement room`);
    if (sc === "idle") out.push(`idle: everyone long-polling (timeout 30 s), nobody talking, window ${durationOf(sc)} s after settling (at least ${settle} s, until the sync rate is near the idle rate)`);
  }
  if (a["pi-both"]) out.push(`pi: each scenario runs uncapped, then again with the server capped at ${piCpu} of a core here (cfs_period_us 10000, quota ${Math.round(piCpu * 10000)}) and ${(piMem / 2 ** 30).toFixed(1)} GiB, same sessions; seeding and initial syncs uncapped; PostgreSQL and the clients are not capped`);
  else if (a.pi) out.push(`pi: server capped at ${piCpu} of a core here (cfs_period_us 10000, quota ${Math.round(piCpu * 10000)}) and ${(piMem / 2 ** 30).toFixed(1)} GiB, ${piFrom === "measured" ? "from the measured phase on (seeding and initial syncs uncapped)" : "from server start"}; PostgreSQL and the clients are not capped`);
  out.push("");
  out.push(table(results));
  out.push("");
  for (const r of results) {
    const errs = Object.entries(r.errors).map(([k, n]) => `${k}: ${n}`).join(", ") || "none";
    out.push(`${r.server} ${r.scenario}${r.cap === "none" ? "" : " (capped)"}: seed ${r.seed.cached ? "cached" : "made"} (${r.seed.seconds.toFixed(0)} s to make), initial syncs ${r.initialSyncSec.toFixed(1)} s, settled ${r.settleSec.toFixed(0)} s, window ${r.windowSec.toFixed(0)} s, ${r.windowSyncs} sync responses, ${r.receipts} receipts and ${r.typing} typing requests in the window, VmHWM ${r.rssMb.hwm.toFixed(0)} MB, deliveries before the send's 200: ${r.deliveries.beforeSend200} (counted as 0 ms); errors: ${errs}`);
    if (r.cgroup) out.push(`${r.server} ${r.scenario}: cgroup throttled ${r.cgroup.throttledPeriods}/${r.cgroup.periods} periods (${r.cgroup.throttledSec.toFixed(1)} s), memory max ${r.cgroup.memMaxMb.toFixed(0)} MB`);
  }
  process.stdout.write(out.join("\n") + "\n");
  if (a.json) {
    writeFileSync(a.json, JSON.stringify({ args: a, shape, results }, null, 2));
    log(`figures written to ${a.json}`);
  }
}

main().then(
  () => process.exit(0),
  async (err) => {
    process.stderr.write(`bench failed: ${err?.stack ?? err}\n`);
    await cleanupAll();
    process.exit(1);
  },
);
