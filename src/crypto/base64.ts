/**
 * Unpadded base64, as Matrix writes every key, signature and hash
 * (appendices: unpadded base64). Decoding accepts what peers send:
 * padded or not, standard or URL-safe alphabet.
 */

export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64").replace(/=+$/, "");
}

export function encodeBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64url");
}

const VALID = /^[A-Za-z0-9+/\-_]*={0,2}$/;

export class Base64Error extends Error {
  constructor(message: string) {
    super(message);
    this.name = "Base64Error";
  }
}

/**
 * Leftover bits in the last character are not required to be zero: the
 * appendix's own test seed "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1"
 * ends in "1", whose low two bits are 01, so a decoder that insisted on
 * canonical encodings would refuse the spec's key.
 */
export function decodeBase64(s: string): Uint8Array {
  // Buffer.from silently skips junk characters; be strict instead, so a
  // mangled key or signature is an error rather than different bytes.
  if (!VALID.test(s)) throw new Base64Error("invalid base64 characters");
  const body = s.replace(/=+$/, "");
  if (body.length % 4 === 1) throw new Base64Error("invalid base64 length");
  if (s.length !== body.length && s.length % 4 !== 0) throw new Base64Error("invalid base64 padding");
  const normal = body.replace(/-/g, "+").replace(/_/g, "/");
  return new Uint8Array(Buffer.from(normal, "base64"));
}
