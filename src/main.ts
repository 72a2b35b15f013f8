#!/usr/bin/env node
/**
 * The command line: start, generate-config, migrate, register-user.
 * Run as `node dist/src/main.js <command>` (npm start runs `start`).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { ConfigError, defaultConfigPath, loadConfig, type Config } from "./config.js";
import { createLogger } from "./logger.js";
import { migrate, openDatabase } from "./storage/database.js";
import { AccountStore } from "./storage/account-store.js";
import { startHomeserver } from "./homeserver.js";
import { isValidLocalpart } from "./room/identifiers.js";

const USAGE = `usage: pimatrix <command> [options]

commands:
  start                      run the homeserver
  generate-config            write a config file to edit (default <data_dir>/homeserver.yaml)
      --server-name NAME       the server name to put in it
      --output PATH            where to write it
  migrate                    bring the database schema up to date and exit
  register-user USER         create a user (USER is a localpart or a full @user:server id)
      --password PASSWORD      the password (or set PIMATRIX_NEW_USER_PASSWORD)
      --admin                  make the user a server admin

options for every command:
  --config PATH              the config file (default <data_dir>/homeserver.yaml if it exists)
`;

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: "string" },
      "server-name": { type: "string" },
      output: { type: "string" },
      password: { type: "string" },
      admin: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    process.stdout.write(USAGE);
    return command || values.help ? 0 : 2;
  }
  const config = () => loadConfig({ configPath: values.config });

  switch (command) {
    case "start": {
      const cfg = config();
      const running = await startHomeserver(cfg);
      const stop = async (signal: string) => {
        running.context.log.info("stopping", { signal });
        await running.stop();
        process.exit(0);
      };
      process.once("SIGINT", () => void stop("SIGINT"));
      process.once("SIGTERM", () => void stop("SIGTERM"));
      return -1; // keep running
    }
    case "generate-config": {
      const base = loadConfig({ configPath: values.config });
      const output = values.output ?? join(base.data_dir, "homeserver.yaml");
      if (existsSync(output)) {
        process.stderr.write(`${output} exists; not overwriting it\n`);
        return 1;
      }
      let text = readFileSync(defaultConfigPath(), "utf8");
      if (values["server-name"]) {
        text = text.replace(/^server_name: .*$/m, `server_name: ${values["server-name"]}`);
      }
      mkdirSync(dirname(output), { recursive: true });
      writeFileSync(output, text);
      loadConfig({ configPath: output }); // prove it is valid before telling the operator so
      process.stdout.write(`wrote ${output}\n`);
      return 0;
    }
    case "migrate": {
      const db = openDatabase(config());
      try {
        const applied = await migrate(db);
        process.stdout.write(applied.length ? `applied: ${applied.join(", ")}\n` : "schema is up to date\n");
      } finally {
        await db.close();
      }
      return 0;
    }
    case "register-user": {
      const cfg = config();
      return registerUser(cfg, rest[0], values.password ?? process.env.PIMATRIX_NEW_USER_PASSWORD, values.admin ?? false);
    }
    default:
      process.stderr.write(`unknown command ${command}\n\n${USAGE}`);
      return 2;
  }
}

async function registerUser(cfg: Config, who: string | undefined, password: string | undefined, admin: boolean): Promise<number> {
  if (!who) {
    process.stderr.write("register-user needs a user name\n");
    return 2;
  }
  const localpart = who.startsWith("@") ? who.slice(1, who.indexOf(":") === -1 ? undefined : who.indexOf(":")) : who;
  if (who.startsWith("@") && who.slice(who.indexOf(":") + 1) !== cfg.server_name) {
    process.stderr.write(`${who} is not on this server (${cfg.server_name})\n`);
    return 2;
  }
  if (!isValidLocalpart(localpart)) {
    process.stderr.write(`invalid user name ${JSON.stringify(localpart)}: use a-z, 0-9 and . _ = - / +\n`);
    return 2;
  }
  if (!password) {
    process.stderr.write("register-user needs --password (or PIMATRIX_NEW_USER_PASSWORD)\n");
    return 2;
  }
  const userId = `@${localpart}:${cfg.server_name}`;
  const db = openDatabase(cfg);
  try {
    await migrate(db);
    const accounts = new AccountStore(db);
    if (await accounts.getUser(userId)) {
      process.stderr.write(`${userId} already exists\n`);
      return 1;
    }
    await accounts.createUser(userId, password, { admin });
    process.stdout.write(`created ${userId}${admin ? " (admin)" : ""}\n`);
    return 0;
  } finally {
    await db.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exitCode = 78; // EX_CONFIG
    } else {
      createLogger("error").error("fatal", { err: String((err as Error)?.stack ?? err) });
      process.exitCode = 1;
    }
  },
);
