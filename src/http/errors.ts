/**
 * Matrix errors: every failure a client or server sees is an HTTP status
 * with a JSON body {errcode, error}, plus extra fields some codes carry
 * (retry_after_ms for M_LIMIT_EXCEEDED, for example).
 */
export class MatrixError extends Error {
  constructor(
    readonly status: number,
    readonly errcode: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "MatrixError";
  }

  toJSON(): Record<string, unknown> {
    return { errcode: this.errcode, error: this.message, ...this.extra };
  }
}

export const forbidden = (msg: string) => new MatrixError(403, "M_FORBIDDEN", msg);
export const notFound = (msg: string) => new MatrixError(404, "M_NOT_FOUND", msg);
export const badJson = (msg: string) => new MatrixError(400, "M_BAD_JSON", msg);
export const notJson = (msg: string) => new MatrixError(400, "M_NOT_JSON", msg);
export const invalidParam = (msg: string) => new MatrixError(400, "M_INVALID_PARAM", msg);
export const missingParam = (msg: string) => new MatrixError(400, "M_MISSING_PARAM", msg);
export const tooLarge = (msg: string) => new MatrixError(413, "M_TOO_LARGE", msg);
export const unrecognized = (msg = "Unrecognized request") => new MatrixError(404, "M_UNRECOGNIZED", msg);
export const missingToken = () => new MatrixError(401, "M_MISSING_TOKEN", "Missing access token");
export const unknownToken = () => new MatrixError(401, "M_UNKNOWN_TOKEN", "Unrecognised access token", { soft_logout: false });
