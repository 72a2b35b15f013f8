/**
 * How much of one core here a Raspberry Pi 4B core is worth, for --pi-cpu.
 *
 * The yardstick is sysbench's CPU test (count the primes below 10,000 by
 * trial division up to the square root; one "event" per pass), for which a
 * Pi 4B figure is published: 1477.83 events/s on one core, sysbench 1.0.20,
 * `sysbench cpu --threads=1 --time=60 run`, from
 *   https://leoncode.co.uk/articles/raspberry-pi-benchmarks
 * The same loop is timed here in C (compiled with gcc -O2 when gcc is on
 * the PATH, the closest match to sysbench's own build) and in plain
 * JavaScript (what Node's JIT makes of it, for reference), and sysbench
 * itself is run when installed. X = Pi figure / figure here.
 *
 *   npm run build && node dist/test/bench/calibrate.js [seconds=5]
 *
 * Caveat: one integer loop says nothing about memory bandwidth, caches or
 * JSON/crypto work, where a Cortex-A72 at 1.5-1.8 GHz may fare differently.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const PI4B_EVENTS_PER_SEC = 1477.83;
const SOURCE = "https://leoncode.co.uk/articles/raspberry-pi-benchmarks (sysbench 1.0.20 cpu, 1 thread, max prime 10000)";
const seconds = Math.min(Math.max(Number(process.argv[2] ?? 5), 1), 60);
const MAX_PRIME = 10_000;

function primePass(): number {
  let n = 0;
  for (let c = 3; c < MAX_PRIME; c++) {
    const t = Math.sqrt(c);
    let l = 2;
    for (; l <= t; l++) if (c % l === 0) break;
    if (l > t) n++;
  }
  return n;
}

function jsEventsPerSec(): number {
  let events = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let t = t0;
  while (t < end) {
    for (let i = 0; i < 20; i++) primePass();
    events += 20;
    t = performance.now();
  }
  return events / ((t - t0) / 1000);
}

const C_SOURCE = `
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double secs(void) { struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return ts.tv_sec + ts.tv_nsec / 1e9; }
int main(int argc, char **argv) {
  double limit = atof(argv[1]);
  unsigned long long events = 0, found = 0;
  double t0 = secs(), t = t0;
  while (t - t0 < limit) {
    for (unsigned long long c = 3; c < ${MAX_PRIME}; c++) {
      double r = sqrt((double)c);
      unsigned long long l;
      for (l = 2; l <= r; l++) if (c % l == 0) break;
      if (l > r) found++;
    }
    events++;
    t = secs();
  }
  printf("%f %llu\\n", events / (t - t0), found);
  return 0;
}
`;

function cEventsPerSec(): number | undefined {
  const dir = mkdtempSync(join(tmpdir(), "calibrate-"));
  try {
    writeFileSync(join(dir, "primes.c"), C_SOURCE);
    execFileSync("gcc", ["-O2", "-o", join(dir, "primes"), join(dir, "primes.c"), "-lm"], { stdio: "ignore" });
    return Number(execFileSync(join(dir, "primes"), [String(seconds)]).toString().split(" ")[0]);
  } catch {
    return undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function sysbenchEventsPerSec(): number | undefined {
  try {
    const out = execFileSync("sysbench", ["cpu", "--threads=1", `--time=${seconds}`, "run"], { stdio: ["ignore", "pipe", "ignore"] }).toString();
    return Number(/events per second:\s+([\d.]+)/.exec(out)?.[1]);
  } catch {
    return undefined;
  }
}

const js = jsEventsPerSec();
const c = cEventsPerSec();
const sb = sysbenchEventsPerSec();
const best = sb ?? c;
console.log(`Pi 4B, one core: ${PI4B_EVENTS_PER_SEC} events/s — ${SOURCE}`);
if (sb) console.log(`here, sysbench:  ${sb.toFixed(1)} events/s`);
if (c) console.log(`here, C (gcc -O2, same loop): ${c.toFixed(1)} events/s`);
console.log(`here, JavaScript (Node ${process.version}, same loop): ${js.toFixed(1)} events/s`);
if (best) console.log(`a Pi 4B core ≈ ${(PI4B_EVENTS_PER_SEC / best).toFixed(2)} of one core here (${sb ? "sysbench" : "C loop"} against the published sysbench figure)`);
console.log(`(JavaScript loop against the published figure: ${(PI4B_EVENTS_PER_SEC / js).toFixed(2)}; the bench's default --pi-cpu is 0.25)`);
