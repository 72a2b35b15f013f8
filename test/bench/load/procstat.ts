/**
 * The server's footprint from /proc: VmRSS and VmHWM from /proc/<pid>/status,
 * CPU seconds from utime+stime in /proc/<pid>/stat (all threads of the process).
 */
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";

let ticks = 100;
try {
  ticks = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;
} catch {
  // keep 100, Linux's usual USER_HZ
}

export interface ProcSample {
  rssMb: number;
  hwmMb: number;
  cpuSec: number;
}

export function sampleProc(pid: number): ProcSample | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0);
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces) in parentheses: utime is the 14th field, stime the 15th.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const cpuSec = (Number(rest[11]) + Number(rest[12])) / ticks;
    return { rssMb: kb("VmRSS") / 1024, hwmMb: kb("VmHWM") / 1024, cpuSec };
  } catch {
    return undefined;
  }
}

/** Samples a process every intervalMs until stopped; keeps every sample with its time. */
export class ProcSampler {
  readonly samples: Array<ProcSample & { t: number }> = [];
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly pid: number, private readonly intervalMs = 500) {}
  start(): void {
    this.take();
    this.timer = setInterval(() => this.take(), this.intervalMs);
  }
  take(): (ProcSample & { t: number }) | undefined {
    const s = sampleProc(this.pid);
    if (s) this.samples.push({ ...s, t: Date.now() });
    return s ? this.samples[this.samples.length - 1] : undefined;
  }
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.take();
  }
  /** Peak RSS seen over the samples (MB), and the median RSS of the second half (steady state). */
  summary(): { peakRssMb: number; steadyRssMb: number; cpuSec: number; seconds: number } {
    const s = this.samples;
    if (s.length < 2) return { peakRssMb: s[0]?.rssMb ?? 0, steadyRssMb: s[0]?.rssMb ?? 0, cpuSec: 0, seconds: 0 };
    const half = s.slice(Math.floor(s.length / 2)).map((x) => x.rssMb).sort((a, b) => a - b);
    return {
      peakRssMb: Math.max(...s.map((x) => x.rssMb)),
      steadyRssMb: half[Math.floor(half.length / 2)],
      cpuSec: s[s.length - 1].cpuSec - s[0].cpuSec,
      seconds: (s[s.length - 1].t - s[0].t) / 1000,
    };
  }
}
