/**
 * A small structured logger: one JSON line per entry on stderr, so a Pi's
 * journald keeps it and tools can parse it. No dependency, no buffering.
 */
const LEVELS = { error: 0, warn: 1, info: 2, debug: 3 } as const;
export type LogLevel = keyof typeof LEVELS;

export interface Logger {
  error(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  debug(msg: string, fields?: Record<string, unknown>): void;
}

export function createLogger(level: LogLevel, sink: (line: string) => void = (l) => process.stderr.write(l + "\n")): Logger {
  const max = LEVELS[level];
  const at = (l: LogLevel) => (msg: string, fields?: Record<string, unknown>) => {
    if (LEVELS[l] <= max) sink(JSON.stringify({ ts: new Date().toISOString(), level: l, msg, ...fields }));
  };
  return { error: at("error"), warn: at("warn"), info: at("info"), debug: at("debug") };
}
