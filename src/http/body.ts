/**
 * Reading JSON request bodies: bounded in size before anything is
 * buffered past the limit, and parsed strictly.
 */
import type { Context } from "koa";
import { badJson, notJson, tooLarge } from "./errors.js";

export async function readBody(ctx: Context, limit: number): Promise<Buffer> {
  const declared = Number(ctx.get("content-length") || "0");
  if (declared > limit) throw tooLarge(`Request body is over ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      // Stop reading: the rest of an oversized body is not worth receiving.
      ctx.req.unpipe?.();
      ctx.set("Connection", "close");
      throw tooLarge(`Request body is over ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** The body as a JSON object; an empty body counts as {} (clients send POSTs without one). */
export async function readJsonObject(ctx: Context, limit: number): Promise<Record<string, unknown>> {
  const raw = await readBody(ctx, limit);
  if (raw.length === 0) return {};
  let value: unknown;
  try {
    // fatal: a body that is not UTF-8 is not JSON (RFC 8259), rather than text with replacement characters.
    value = JSON.parse(UTF8.decode(raw));
  } catch {
    throw notJson("Content not JSON.");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw badJson("Content must be a JSON object.");
  }
  return value as Record<string, unknown>;
}
