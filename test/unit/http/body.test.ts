/**
 * Request bodies through the real koa app over a real socket: size limit,
 * strict JSON, and the Matrix errors each failure gets.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import Router from "@koa/router";
import { createApp } from "../../../src/http/app.js";
import { readJsonObject } from "../../../src/http/body.js";
import { createLogger } from "../../../src/logger.js";
import { AuthError } from "../../../src/room/types.js";

const LIMIT = 1024;

describe("JSON bodies and errors", () => {
  let server: Server;
  let url: string;
  const received: unknown[] = [];

  before(async () => {
    const router = new Router();
    router.post("/echo", async (ctx) => {
      const body = await readJsonObject(ctx, LIMIT);
      received.push(body);
      ctx.body = body;
    });
    router.get("/forbidden", () => {
      throw new AuthError("5.3.2: sender does not match state_key");
    });
    router.get("/crash", () => {
      throw new Error("secret internals");
    });
    server = createServer(createApp([router], createLogger("error", () => {})).callback());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  const post = (body: string | Buffer) => fetch(`${url}/echo`, { method: "POST", body, headers: { "content-type": "application/json" } });

  it("parses a JSON object", async () => {
    const res = await post(JSON.stringify({ a: [1, "ü"] }));
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { a: [1, "ü"] });
  });

  it("answers malformed JSON with 400 M_NOT_JSON and does not run the handler", async () => {
    const n = received.length;
    const res = await post("{not json");
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { errcode: string }).errcode, "M_NOT_JSON");
    assert.equal(received.length, n);
  });

  it("answers JSON that is not an object with 400 M_BAD_JSON", async () => {
    for (const body of ["[1,2]", "\"text\"", "42", "null"]) {
      const res = await post(body);
      assert.equal(res.status, 400, body);
      assert.equal(((await res.json()) as { errcode: string }).errcode, "M_BAD_JSON", body);
    }
  });

  it("answers an oversized body with 413 M_TOO_LARGE, declared or streamed", async () => {
    const n = received.length;
    const big = JSON.stringify({ pad: "x".repeat(LIMIT * 4) });
    const res = await post(big);
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as { errcode: string }).errcode, "M_TOO_LARGE");
    // Chunked, with no content-length to refuse up front.
    const stream = new ReadableStream({
      start(c) {
        for (let i = 0; i < 8; i++) c.enqueue(new TextEncoder().encode(i === 0 ? '{"pad":"' + "y".repeat(500) : "y".repeat(500)));
        c.enqueue(new TextEncoder().encode('"}'));
        c.close();
      },
    });
    const res2 = await fetch(`${url}/echo`, { method: "POST", body: stream, duplex: "half" } as RequestInit);
    assert.equal(res2.status, 413);
    assert.equal(received.length, n);
  });

  it("turns an auth rule failure into 403 M_FORBIDDEN with its reason", async () => {
    const res = await fetch(`${url}/forbidden`);
    assert.equal(res.status, 403);
    assert.deepEqual(await res.json(), { errcode: "M_FORBIDDEN", error: "5.3.2: sender does not match state_key" });
  });

  it("hides internal errors behind 500 M_UNKNOWN", async () => {
    const res = await fetch(`${url}/crash`);
    assert.equal(res.status, 500);
    const body = (await res.json()) as { errcode: string; error: string };
    assert.equal(body.errcode, "M_UNKNOWN");
    assert.doesNotMatch(body.error, /secret/);
  });
});
