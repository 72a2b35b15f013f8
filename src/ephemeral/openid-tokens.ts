/**
 * OpenID tokens (client-server API: OpenID): a user asks for one to prove
 * their identity to a third party, which asks our federation API whose it
 * is. Held in memory for an hour; a restart only makes the user ask again.
 */
import NodeCache from "node-cache";
import { randomBytes } from "node:crypto";

export const OPENID_TOKEN_LIFETIME_S = 3600;

export class OpenIdTokens {
  private readonly tokens = new NodeCache({ stdTTL: OPENID_TOKEN_LIFETIME_S, checkperiod: 300, useClones: false, maxKeys: 100_000 });

  issue(userId: string): string {
    const token = randomBytes(24).toString("base64url");
    this.tokens.set(token, userId);
    return token;
  }

  userOf(token: string): string | undefined {
    return this.tokens.get<string>(token);
  }

  close(): void {
    this.tokens.close();
  }
}
