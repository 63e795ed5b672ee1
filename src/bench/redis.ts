/**
 * Redis for the job queues (`aura bench --queue`, `aura sim --queue`, `aura worker`): one client per
 * process whose commands wait for a reconnection, the check that Redis is set up for a queue, and the
 * retry settings shared by both queues.
 */
import { Redis } from "ioredis";
import { ConfigError } from "aura-mem/errors";

/** Retry and lock settings of a sweep (CLI: `aura worker --lock-duration`, `aura bench --attempts`). */
export interface QueueSettings {
  /** Tries per job (1 + retries after a failure or a lost worker). */
  attempts: number;
  /** First retry delay (ms); doubles with every further try. */
  backoffMs: number;
}

export const DEFAULT_QUEUE_SETTINGS: QueueSettings = { attempts: 3, backoffMs: 5000 };

/** A Redis client for BullMQ and for the results hash (commands wait for a reconnect instead of failing). */
export function connect(url: string, log: (m: string) => void): Redis {
  if (!/^rediss?:\/\//.test(url)) throw new ConfigError(`--queue must be a redis:// URL (redis://host:port/db), got "${url}"`);
  const redis = new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true });
  // one line per outage, not one per reconnection attempt; a lost connection counts even when Redis is back
  // before the first reconnection attempt fails (a quick restart): 'reconnecting' fires on every outage
  let down = false;
  const lost = (why: string): void => {
    if (!down) log(`Redis ${url.replace(/\/\/[^@/]*@/, "//")} unreachable (${why}); retrying until it is back`);
    down = true;
  };
  redis.on("error", (e: Error) => lost(e.message));
  redis.on("reconnecting", () => lost("connection lost"));
  redis.on("ready", () => {
    if (down) log("Redis is back");
    down = false;
  });
  return redis;
}

/** An 'error' listener that logs all but connection errors (connect() reports those once per outage). */
export function otherErrors(who: string, log: (m: string) => void): (err: Error) => void {
  return (err) => {
    if (!/ECONNREFUSED|ECONNRESET|EPIPE|Connection is closed/.test(err.message)) log(`${who} error: ${err.message}`);
  };
}

/** Warn when Redis is not set up for a queue (maxmemory-policy noeviction, AOF on); CONFIG may be disabled. */
export async function checkRedisConfig(redis: Redis, warn: (m: string) => void): Promise<void> {
  try {
    const policy = ((await redis.config("GET", "maxmemory-policy")) as string[])[1];
    const aof = ((await redis.config("GET", "appendonly")) as string[])[1];
    if (policy !== "noeviction") warn(`Redis maxmemory-policy is "${policy}": set noeviction, or Redis may evict queued jobs (docs/distributed.md)`);
    if (aof !== "yes") warn("Redis runs without AOF (appendonly no): a Redis restart loses the queue and the results not yet copied (docs/distributed.md)");
  } catch {
    warn("could not read the Redis configuration (CONFIG GET refused); make sure it has maxmemory-policy noeviction and appendonly yes");
  }
}

let processorClient: Redis | null = null;

/**
 * The Redis client of a sandboxed job processor (src/bench/queue_processor.ts, src/sim/queue_processor.ts): one
 * per child process, at the URL `aura worker` put in AURA_QUEUE_URL; commands wait for a reconnection (the
 * worker logs the outage).
 * @throws Error when AURA_QUEUE_URL is not set (the processor runs outside aura worker).
 */
export function processorRedis(): Redis {
  const url = process.env["AURA_QUEUE_URL"];
  if (!url) throw new Error("AURA_QUEUE_URL is not set (the processor runs under aura worker)");
  if (!processorClient) {
    processorClient = new Redis(url, { maxRetriesPerRequest: null });
    processorClient.on("error", () => undefined);
  }
  return processorClient;
}
