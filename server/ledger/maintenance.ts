// Background upkeep of one instance: its heartbeat, releasing the reservations of instances
// that stopped beating, and pruning held outputs past their retention. Timers are unref'd,
// so they never keep a process alive, and a failed round is retried on the next tick.
import type { HeldOutputLedger, InstanceLedger } from "./types.ts";

export interface MaintenanceOptions {
  /** Heartbeat period (default 5 s). */
  heartbeatMs?: number;
  /**
   * An instance silent this long is dead and its reservations are released (default 20 s:
   * with the 5 s heartbeat, a dead instance's reservations are released within 25 s).
   */
  staleMs?: number;
  /** Held outputs of payments settled or failed longer ago than this are deleted (default 7 days). */
  heldOutputRetentionMs?: number;
  /** How often to prune held outputs (default hourly). */
  pruneEveryMs?: number;
  onError?: (e: unknown) => void;
}

const DEFAULT_HELD_OUTPUT_RETENTION_MS = 7 * 24 * 3600_000;

export class Maintenance {
  private readonly timer: NodeJS.Timeout;
  private lastPrune = 0;
  private running: Promise<void> | null = null;

  constructor(
    private readonly ledger: InstanceLedger & HeldOutputLedger,
    private readonly options: MaintenanceOptions = {},
    private readonly now: () => number = Date.now,
  ) {
    this.timer = setInterval(() => void this.tick(), options.heartbeatMs ?? 5000);
    this.timer.unref();
    void this.tick();
  }

  /** One round (concurrent callers share it). */
  tick(): Promise<void> {
    this.running ??= this.round().finally(() => (this.running = null));
    return this.running;
  }

  private async round(): Promise<void> {
    try {
      await this.ledger.heartbeat();
      await this.ledger.releaseDeadReservations(this.options.staleMs ?? 20_000);
      const now = this.now();
      if (now - this.lastPrune >= (this.options.pruneEveryMs ?? 3600_000)) {
        this.lastPrune = now;
        await this.ledger.pruneHeldOutputs(now - (this.options.heldOutputRetentionMs ?? DEFAULT_HELD_OUTPUT_RETENTION_MS));
      }
    } catch (e) {
      this.options.onError?.(e);
    }
  }

  /** Stops the timer and waits for a round in progress. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
