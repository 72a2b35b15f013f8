/**
 * Who is calling: the access token from the Authorization header (or the
 * deprecated access_token query parameter), resolved to a user and device.
 */
import type { Context } from "koa";
import type { AccountStore, TokenOwner } from "../storage/account-store.js";
import { MatrixError, missingToken, unknownToken } from "./errors.js";

export interface Requester extends TokenOwner {
  readonly accessToken: string;
}

export function accessTokenOf(ctx: Context): string | undefined {
  const header = ctx.get("authorization");
  if (header) {
    const m = /^Bearer\s+(\S+)$/i.exec(header);
    if (!m) throw new MatrixError(401, "M_MISSING_TOKEN", "Authorization header is not a Bearer token");
    return m[1];
  }
  const q = ctx.query.access_token;
  return typeof q === "string" && q.length > 0 ? q : undefined;
}

export async function requireUser(ctx: Context, accounts: AccountStore): Promise<Requester> {
  const token = accessTokenOf(ctx);
  if (!token) throw missingToken();
  const owner = await accounts.ownerOfToken(token);
  if (!owner) throw unknownToken();
  // An expired refreshable token: a soft logout, so the client refreshes instead of signing out.
  if (owner.expired) throw new MatrixError(401, "M_UNKNOWN_TOKEN", "Access token has expired", { soft_logout: true });
  accounts.noteSeen(owner.userId, owner.deviceId, ctx.ip || null);
  return { userId: owner.userId, deviceId: owner.deviceId, accessToken: token };
}
