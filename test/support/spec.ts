/**
 * Checks response bodies against the Matrix specification's own OpenAPI
 * definitions (../shared/spec/data/api). The schema is taken from the
 * operation's response for the given status, with every $ref inlined, and
 * validated with ajv (JSON Schema 2020-12, which OpenAPI 3.1 uses).
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { Ajv2020 } from "ajv/dist/2020.js";

/** The package root: where package.json is, above this file (in src or in dist). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const up = dirname(dir);
    if (up === dir) throw new Error("package.json not found above test/support");
    dir = up;
  }
  return dir;
}

/** The spec's definitions kept with the tests (test/matrix-spec), or $MATRIX_SPEC_DIR/data. */
function specRoot(): string {
  if (process.env.MATRIX_SPEC_DIR) return join(process.env.MATRIX_SPEC_DIR, "data", "api");
  return join(packageRoot(), "test", "matrix-spec", "api");
}

const SPEC_ROOT = specRoot();

type Json = Record<string, unknown>;
const files = new Map<string, Json>();

function load(path: string): Json {
  let doc = files.get(path);
  if (!doc) {
    doc = parse(readFileSync(path, "utf8")) as Json;
    files.set(path, doc);
  }
  return doc;
}

function pointer(doc: unknown, fragment: string): unknown {
  let node = doc;
  for (const part of fragment.split("/").filter(Boolean)) {
    node = (node as Json)[part.replace(/~1/g, "/").replace(/~0/g, "~")];
  }
  return node;
}

/** Inline every $ref, relative to the file it appears in. Recursion past a depth ends in `{}` (accept anything). */
function deref(node: unknown, file: string, depth = 0): unknown {
  if (depth > 40) return {};
  if (Array.isArray(node)) return node.map((n) => deref(n, file, depth));
  if (typeof node !== "object" || node === null) return node;
  const obj = node as Json;
  if (typeof obj.$ref === "string") {
    const [relPath, fragment = ""] = obj.$ref.split("#");
    const target = relPath ? resolve(dirname(file), relPath) : file;
    const { $ref: _r, ...siblings } = obj;
    const resolved = deref(pointer(load(target), fragment), target, depth + 1) as Json;
    return Object.keys(siblings).length ? { ...resolved, ...(deref(siblings, file, depth) as Json) } : resolved;
  }
  const out: Json = {};
  for (const [k, v] of Object.entries(obj)) {
    // `example(s)` may hold anything, including $refs to example files: skip them.
    out[k] = k === "example" || k === "examples" ? undefined : deref(v, file, depth);
  }
  return out;
}

const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });

/**
 * Asserts that `body` is what the spec allows for `method path` answering `status`.
 * `api` is the folder (client-server, server-server), `file` the YAML in it, `path` as the file writes it.
 */
export function assertSpecResponse(api: string, file: string, method: string, path: string, status: number, body: unknown): void {
  const full = join(SPEC_ROOT, api, file);
  const op = (load(full).paths as Json)?.[path] as Json | undefined;
  const responses = (op?.[method.toLowerCase()] as Json | undefined)?.responses as Json | undefined;
  const response = responses?.[String(status)];
  if (!response) throw new Error(`the spec defines no ${status} response for ${method} ${path} in ${file}`);
  const schema = (deref(response, full) as Json).content as Json | undefined;
  const json = (schema?.["application/json"] as Json | undefined)?.schema;
  if (!json) return; // the spec gives no body schema for this response
  const validate = ajv.compile(json as object);
  if (!validate(body)) {
    throw new Error(`${method} ${path} ${status} does not match the spec: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 500)}`);
  }
}
