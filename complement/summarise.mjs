#!/usr/bin/env node
// Summarises `go test -json` output of a Complement run.
//
//   node complement/summarise.mjs go-test.jsonl [--results out.jsonl]
//        [--source COMPLEMENT_DIR] [--require passlist.txt] [--write-passlist passlist.txt]
//
// Prints one line per top-level test (passed / failed / skipped, with its
// subtest counts), totals by area, and writes every result, top-level and
// subtests, to --results as JSON lines. --require makes the exit status 1
// when any test named in that list did not pass; otherwise the status is 1
// when any test failed. --source (default $COMPLEMENT_DIR) is read to tell
// which file, and so which area, each test comes from.
import { readFileSync, writeFileSync, readdirSync, existsSync } from "node:fs";
import { join } from "node:path";

const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  if (i === -1) return undefined;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const resultsPath = opt("--results");
const requirePath = opt("--require");
const writePasslist = opt("--write-passlist");
const source = opt("--source") ?? process.env.COMPLEMENT_DIR;
const input = args[0];
if (!input) {
  process.stderr.write("usage: summarise.mjs go-test.jsonl [--results out.jsonl] [--source dir] [--require passlist.txt]\n");
  process.exit(2);
}

const shortPackage = (p) => p.replace(/^github\.com\/matrix-org\/complement\//, "");

// test name -> source file, per package directory
const files = new Map();
if (source && existsSync(source)) {
  for (const dir of ["tests", "tests/csapi"]) {
    const abs = join(source, dir);
    if (!existsSync(abs)) continue;
    for (const f of readdirSync(abs)) {
      if (!f.endsWith("_test.go")) continue;
      const text = readFileSync(join(abs, f), "utf8");
      for (const m of text.matchAll(/^func (Test\w+)\(t \*testing\.T\)/gm)) files.set(`${dir}:${m[1]}`, f);
    }
  }
}

function areaOf(pkg, file, name) {
  const f = file ?? "";
  if (/media/.test(f) || /Media|Thumbnail|Upload|Download/.test(name)) return "Media";
  if (/e2e|keys|device|to_device|key_backup|keychanges|upload_keys|one_time/.test(f)) return "E2EE & devices";
  if (pkg === "tests/csapi") return "Client-Server";
  if (/^v12/.test(f)) return "Room versions (v12)";
  if (/^federation_/.test(f)) return "Federation";
  if (/knock|restricted|hierarchy|summary|direct_messaging|room_timestamp/.test(f)) return "Rooms across servers";
  if (/unknown_endpoints/.test(f)) return "Client-Server";
  return "Federation";
}

const tests = new Map(); // "pkg\0name" -> { pkg, name, result, elapsed }
const order = [];
let buildFailures = [];
for (const line of readFileSync(input, "utf8").split("\n")) {
  if (!line.startsWith("{")) continue;
  let ev;
  try {
    ev = JSON.parse(line);
  } catch {
    continue;
  }
  if (ev.Action === "build-fail") buildFailures.push(ev.ImportPath);
  if (!ev.Test || !ev.Package) continue;
  const pkg = shortPackage(ev.Package);
  const key = `${pkg}\0${ev.Test}`;
  let t = tests.get(key);
  if (!t) {
    t = { pkg, name: ev.Test, result: "running", elapsed: 0 };
    tests.set(key, t);
    order.push(key);
  }
  if (ev.Action === "pass" || ev.Action === "fail" || ev.Action === "skip") {
    t.result = ev.Action;
    t.elapsed = ev.Elapsed ?? 0;
  }
}
// Tests still "running" when the binary died (a panic, a timeout) failed.
for (const t of tests.values()) if (t.result === "running") t.result = "fail";

const top = order.map((k) => tests.get(k)).filter((t) => !t.name.includes("/"));
const subsOf = (t) => order.map((k) => tests.get(k)).filter((s) => s.pkg === t.pkg && s.name.startsWith(t.name + "/"));
const word = { pass: "passed", fail: "FAILED", skip: "skipped" };

const rows = [];
const areas = new Map();
const bump = (area, kind, result) => {
  if (!areas.has(area)) areas.set(area, { top: { pass: 0, fail: 0, skip: 0 }, sub: { pass: 0, fail: 0, skip: 0 } });
  areas.get(area)[kind][result]++;
};
for (const t of top.sort((a, b) => (a.pkg + a.name).localeCompare(b.pkg + b.name))) {
  const file = files.get(`${t.pkg}:${t.name}`);
  t.file = file;
  t.area = areaOf(t.pkg, file, t.name);
  const subs = subsOf(t);
  for (const s of subs) {
    s.file = file;
    s.area = t.area;
    bump(t.area, "sub", s.result);
  }
  bump(t.area, "top", t.result);
  const c = { pass: 0, fail: 0, skip: 0 };
  for (const s of subs) c[s.result]++;
  rows.push([t.pkg, t.name, word[t.result], subs.length ? `${c.pass}/${subs.length}` : "", `${t.elapsed.toFixed(1)}s`]);
}

const widths = [0, 1, 2, 3, 4].map((i) => Math.max(...[["package", "test", "result", "subtests passed", "time"], ...rows].map((r) => r[i].length)));
const fmt = (r) => r.map((c, i) => c.padEnd(widths[i])).join("  ");
const out = [];
out.push(fmt(["package", "test", "result", "subtests passed", "time"]));
out.push(widths.map((w) => "-".repeat(w)).join("  "));
for (const r of rows) out.push(fmt(r));
out.push("");
const total = { top: { pass: 0, fail: 0, skip: 0 }, sub: { pass: 0, fail: 0, skip: 0 } };
out.push("area                   top-level passed/failed/skipped   subtests passed/failed/skipped");
for (const [area, a] of [...areas.entries()].sort()) {
  for (const k of ["top", "sub"]) for (const r of ["pass", "fail", "skip"]) total[k][r] += a[k][r];
  out.push(`${area.padEnd(22)} ${`${a.top.pass}/${a.top.fail}/${a.top.skip}`.padEnd(33)} ${a.sub.pass}/${a.sub.fail}/${a.sub.skip}`);
}
out.push(`${"total".padEnd(22)} ${`${total.top.pass}/${total.top.fail}/${total.top.skip}`.padEnd(33)} ${total.sub.pass}/${total.sub.fail}/${total.sub.skip}`);
if (buildFailures.length) out.push(`\nBUILD FAILED: ${buildFailures.join(", ")}`);
process.stdout.write(out.join("\n") + "\n");

if (resultsPath) {
  const lines = order.map((k) => tests.get(k)).sort((a, b) => (a.pkg + "\0" + a.name).localeCompare(b.pkg + "\0" + b.name))
    .map((t) => JSON.stringify({ package: t.pkg, test: t.name, result: t.result, area: t.area ?? null, file: t.file ?? null, elapsed: t.elapsed }));
  writeFileSync(resultsPath, lines.join("\n") + "\n");
}
if (writePasslist) {
  const names = [...new Set(top.filter((t) => t.result === "pass").map((t) => t.name))].sort();
  writeFileSync(writePasslist, names.join("\n") + "\n");
}

let status = buildFailures.length || total.top.fail || total.sub.fail ? 1 : 0;
if (requirePath) {
  const wanted = readFileSync(requirePath, "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  const byName = new Map(top.map((t) => [t.name, t]));
  const regressions = wanted.filter((n) => byName.get(n)?.result !== "pass");
  if (regressions.length) {
    process.stdout.write(`\nREGRESSIONS: ${regressions.length} test(s) on the pass list did not pass:\n`);
    for (const n of regressions) process.stdout.write(`  ${n} (${byName.get(n)?.result ?? "did not run"})\n`);
    status = 1;
  } else {
    process.stdout.write(`\nall ${wanted.length} tests on the pass list passed\n`);
    status = buildFailures.length ? 1 : 0;
  }
}
process.exit(status);
