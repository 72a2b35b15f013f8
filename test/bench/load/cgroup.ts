/**
 * A Raspberry Pi 4B-sized box from Linux cgroup v1: the cpu controller caps
 * the server at `cpu` cores (cfs_quota_us = cpu × cfs_period_us, with a
 * short 10 ms period so the cap is smooth), the memory controller at a
 * memory.limit_in_bytes. The memory group is made under the group the
 * process is already in (so limits above still apply), the cpu group under
 * the process's own cpu group. remove() puts the process back and deletes both.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const ROOT = "/sys/fs/cgroup";

function ownGroup(pid: number, controller: string): string {
  const lines = readFileSync(`/proc/${pid}/cgroup`, "utf8").split("\n");
  for (const l of lines) {
    const [, ctrls, path] = l.split(":");
    if (ctrls?.split(",").includes(controller)) return path;
  }
  return "/";
}

export interface PiBox {
  readonly cpuDir: string;
  readonly memDir: string;
  readonly describe: string;
  move(pid: number): void;
  stats(): { throttledSec: number; periods: number; throttledPeriods: number; memMaxMb: number };
  remove(): void;
}

export function cgroupV1Available(): string | undefined {
  if (!existsSync(join(ROOT, "cpu", "cpu.cfs_quota_us"))) return "no cgroup v1 cpu controller at /sys/fs/cgroup/cpu";
  if (!existsSync(join(ROOT, "memory", "memory.limit_in_bytes"))) return "no cgroup v1 memory controller at /sys/fs/cgroup/memory";
  return undefined;
}

export function createPiBox(name: string, cpu: number, memBytes: number): PiBox {
  const why = cgroupV1Available();
  if (why) throw new Error(why);
  const period = 10_000;
  const quota = Math.max(1000, Math.round(cpu * period));
  const cpuParent = join(ROOT, "cpu", ownGroup(process.pid, "cpu"));
  const memParent = join(ROOT, "memory", ownGroup(process.pid, "memory"));
  const cpuDir = join(cpuParent, name);
  const memDir = join(memParent, name);
  mkdirSync(cpuDir, { recursive: true });
  mkdirSync(memDir, { recursive: true });
  writeFileSync(join(cpuDir, "cpu.cfs_period_us"), String(period));
  writeFileSync(join(cpuDir, "cpu.cfs_quota_us"), String(quota));
  writeFileSync(join(memDir, "memory.limit_in_bytes"), String(memBytes));
  // Bring the pages the process already has along with it, so the limit covers its whole footprint.
  try {
    writeFileSync(join(memDir, "memory.move_charge_at_immigrate"), "3");
  } catch {
    // older kernels without charge moving: the limit covers new pages only
  }
  const moved: number[] = [];
  const read = (f: string) => {
    try {
      return readFileSync(f, "utf8");
    } catch {
      return "";
    }
  };
  return {
    cpuDir,
    memDir,
    describe: `cgroup v1 cpu ${cpuDir} (cfs_period_us ${period}, cfs_quota_us ${quota} = ${cpu} core), memory ${memDir} (limit ${(memBytes / 2 ** 30).toFixed(1)} GiB)`,
    move(pid: number) {
      writeFileSync(join(cpuDir, "cgroup.procs"), String(pid));
      writeFileSync(join(memDir, "cgroup.procs"), String(pid));
      moved.push(pid);
    },
    stats() {
      const s = read(join(cpuDir, "cpu.stat"));
      const n = (k: string) => Number(new RegExp(`^${k} (\\d+)`, "m").exec(s)?.[1] ?? 0);
      return {
        throttledSec: n("throttled_time") / 1e9,
        periods: n("nr_periods"),
        throttledPeriods: n("nr_throttled"),
        memMaxMb: Number(read(join(memDir, "memory.max_usage_in_bytes")) || 0) / 2 ** 20,
      };
    },
    remove() {
      for (const pid of moved) {
        // Back where it came from (ignore a process that has exited meanwhile).
        try {
          writeFileSync(join(cpuParent, "cgroup.procs"), String(pid));
        } catch {}
        try {
          writeFileSync(join(memParent, "cgroup.procs"), String(pid));
        } catch {}
      }
      for (const dir of [cpuDir, memDir]) {
        for (let i = 0; i < 50 && existsSync(dir); i++) {
          try {
            rmdirSync(dir);
          } catch {
            // tasks still leaving; retry briefly
            const until = Date.now() + 100;
            while (Date.now() < until);
          }
        }
      }
    },
  };
}
