/** Percentiles and the one table a run prints. */

export interface RunResult {
  scenario: string;
  server: string;
  db: string;
  users: number;
  cap: string; // "none" or "pi 0.25 core, 4 GiB (measured phase)"
  seed: { cached: boolean; seconds: number };
  initialSyncSec: number;
  settleSec: number;
  windowSec: number;
  messages: number;
  deliveries: { expected: number; arrived: number; missing: number; beforeSend200: number };
  latencyMs: { p50: number; p95: number; p99: number; max: number } | null;
  errors: Record<string, number>;
  errorTotal: number;
  /** start: before any client; steady: median of the window's second half; left: after every client hung up (the warm server without sessions). */
  rssMb: { start: number; steady: number; peak: number; hwm: number; left: number };
  cpu: { secPerMin: number; pctOfCore: number };
  syncs: number;
  windowSyncs: number;
  receipts: number;
  typing: number;
  cgroup?: { throttledSec: number; throttledPeriods: number; periods: number; memMaxMb: number };
}

export function percentiles(values: number[]): RunResult["latencyMs"] {
  if (values.length === 0) return null;
  const v = Float64Array.from(values).sort();
  const at = (q: number) => v[Math.min(v.length - 1, Math.max(0, Math.ceil(q * v.length) - 1))];
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: v[v.length - 1] };
}

const f = (n: number | undefined, d = 0) => (n === undefined || !Number.isFinite(n) ? "-" : n.toFixed(d));

export function table(results: RunResult[]): string {
  const head = ["scenario", "server", "db", "users", "cap", "msgs", "deliveries", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors", "RSS start MB", "RSS idle/steady MB", "RSS peak MB", "RSS after MB", "CPU s/min", "CPU % core"];
  const rows: string[][] = results.map((r) => [
    r.scenario, r.server, r.db, String(r.users), r.cap, String(r.messages), `${r.deliveries.arrived}/${r.deliveries.expected}`,
    f(r.latencyMs?.p50), f(r.latencyMs?.p95), f(r.latencyMs?.p99), f(r.latencyMs?.max), String(r.errorTotal),
    f(r.rssMb.start), f(r.rssMb.steady), f(r.rssMb.peak), f(r.rssMb.left), f(r.cpu.secPerMin, 2), f(r.cpu.pctOfCore, 1),
  ]);
  for (const key of [...new Set(results.map((r) => `${r.scenario}|${r.cap}`))]) {
    const [sc, cap] = key.split("|");
    const ours = results.find((r) => r.server === "ours" && r.scenario === sc && r.cap === cap);
    const syn = results.find((r) => r.server === "synapse" && r.scenario === sc && r.cap === cap);
    if (!ours || !syn) continue;
    const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || b === 0 ? "-" : (a / b).toFixed(2));
    rows.push([
      sc, "ours/synapse", "", "", cap, "", "",
      ratio(ours.latencyMs?.p50, syn.latencyMs?.p50), ratio(ours.latencyMs?.p95, syn.latencyMs?.p95), ratio(ours.latencyMs?.p99, syn.latencyMs?.p99), ratio(ours.latencyMs?.max, syn.latencyMs?.max),
      "", ratio(ours.rssMb.start, syn.rssMb.start), ratio(ours.rssMb.steady, syn.rssMb.steady), ratio(ours.rssMb.peak, syn.rssMb.peak), ratio(ours.rssMb.left, syn.rssMb.left), ratio(ours.cpu.secPerMin, syn.cpu.secPerMin), ratio(ours.cpu.pctOfCore, syn.cpu.pctOfCore),
    ]);
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => "| " + cells.map((c, i) => c.padEnd(widths[i])).join(" | ") + " |";
  return [line(head), "|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|", ...rows.map(line)].join("\n");
}
