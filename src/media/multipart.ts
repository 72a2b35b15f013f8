/**
 * multipart/mixed as the federation media endpoints use it (RFC 2046):
 * exactly two parts, JSON metadata first, then the media (or a Location
 * to fetch it from). Building is a head and a tail around the file's
 * bytes, so a file is streamed, never buffered; parsing buffers only the
 * head (bounded) and streams the second part's body through, holding back
 * just enough to find the closing delimiter.
 */
import { randomBytes } from "node:crypto";

const CRLF = "\r\n";
/** Metadata and part headers together must fit in this much. */
const MAX_HEAD = 64 * 1024;
/** What is held back from the body to find the closing delimiter (and a short epilogue) after it. */
const HOLD = 4096;

export function newBoundary(): string {
  return randomBytes(16).toString("hex");
}

/** The boundary parameter of a multipart/mixed Content-Type, or undefined. */
export function boundaryOf(contentType: string | undefined): string | undefined {
  if (!contentType || !/^\s*multipart\/mixed\s*;/i.test(contentType)) return undefined;
  const m = /;\s*boundary\s*=\s*(?:"([^"]{1,70})"|([^\s;"]{1,70}))/i.exec(contentType);
  return m ? (m[1] ?? m[2]) : undefined;
}

/** Everything before the media's bytes: the metadata part and the second part's headers. */
export function multipartHead(boundary: string, metadata: object, headers: Record<string, string>): Buffer {
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}${CRLF}`).join("");
  return Buffer.from(`--${boundary}${CRLF}Content-Type: application/json${CRLF}${CRLF}${JSON.stringify(metadata)}${CRLF}--${boundary}${CRLF}${lines}${CRLF}`, "utf8");
}

export function multipartTail(boundary: string): Buffer {
  return Buffer.from(`${CRLF}--${boundary}--${CRLF}`, "utf8");
}

export class MultipartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MultipartError";
  }
}

export interface SecondPart {
  /** Its headers, names lower-cased. */
  readonly headers: Map<string, string>;
  readonly metadata: unknown;
  readonly body: AsyncIterable<Buffer>;
  /** Whether the closing delimiter was found (the body was not cut off). Read once `body` is done. */
  complete(): boolean;
}

function parseHeaders(block: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of block.split(CRLF)) {
    const i = line.indexOf(":");
    if (i > 0) out.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  return out;
}

/** Reads a two-part multipart/mixed body: the metadata, then the second part's headers, its body streamed. */
export async function readSecondPart(source: AsyncIterable<Buffer>, boundary: string): Promise<SecondPart> {
  const it = source[Symbol.asyncIterator]();
  const dash = Buffer.from(`--${boundary}`);
  const delimiter = Buffer.from(`${CRLF}--${boundary}`);
  let buf = Buffer.alloc(0);
  let ended = false;
  const more = async () => {
    const next = await it.next();
    if (next.done) {
      ended = true;
      return false;
    }
    buf = Buffer.concat([buf, next.value]);
    if (buf.length > MAX_HEAD + HOLD && !headParsed) throw new MultipartError("multipart head too large");
    return true;
  };
  let headParsed = false;
  // Finds `needle` in the buffer from `from`, reading more while it is not there and the source goes on.
  const find = async (needle: Buffer, from: number) => {
    for (;;) {
      const i = buf.indexOf(needle, from);
      if (i >= 0) return i;
      if (ended || !(await more())) throw new MultipartError("multipart body ended early");
    }
  };
  // The first delimiter: at the very start, or after a preamble and CRLF.
  let first = -1;
  for (let from = 0; first < 0; ) {
    const i = await find(dash, from);
    if (i === 0 || (i >= 2 && buf[i - 2] === 13 && buf[i - 1] === 10)) first = i;
    else from = i + 1;
  }
  const line1 = await find(Buffer.from(CRLF), first + dash.length);
  const head1 = await find(Buffer.from(CRLF + CRLF), line1);
  const end1 = await find(delimiter, head1 + 4);
  const metadataText = buf.subarray(head1 + 4, end1).toString("utf8");
  const afterDelim = end1 + delimiter.length;
  while (buf.length < afterDelim + 2 && !ended) await more();
  if (buf.subarray(afterDelim, afterDelim + 2).toString() === "--") throw new MultipartError("multipart body has only one part");
  const line2 = await find(Buffer.from(CRLF), afterDelim);
  const head2 = await find(Buffer.from(CRLF + CRLF), line2);
  const headers = parseHeaders(buf.subarray(line2 + 2, head2).toString("utf8"));
  headParsed = true;
  let metadata: unknown;
  try {
    metadata = JSON.parse(metadataText);
  } catch {
    throw new MultipartError("multipart metadata is not JSON");
  }
  let rest: Buffer = buf.subarray(head2 + 4);
  let closed = false;
  async function* body(): AsyncGenerator<Buffer> {
    let held: Buffer = rest;
    rest = Buffer.alloc(0);
    for (;;) {
      if (held.length > HOLD) {
        yield held.subarray(0, held.length - HOLD);
        held = Buffer.from(held.subarray(held.length - HOLD));
      }
      if (ended) break;
      const next = await it.next();
      if (next.done) break;
      held = held.length ? Buffer.concat([held, next.value]) : next.value;
    }
    const end = held.lastIndexOf(delimiter);
    if (end < 0) return; // cut off: complete() stays false
    closed = true;
    if (end > 0) yield held.subarray(0, end);
  }
  return { headers, metadata, body: body(), complete: () => closed };
}
