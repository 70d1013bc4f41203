// Closes epochs on schedule: by time (intervalSeconds since the model's last epoch) and/or by
// payment count (that many settled outputs waiting). Payments served by this instance nudge
// the count trigger at once; a periodic check covers time, other instances' payments and
// recovery of unfinished epochs. Work is serialised per model; closing itself is safe across
// instances (see closer.ts).
import { EventEmitter } from "node:events";
import type { EpochsSection } from "../config/index.ts";
import type { ModelRegistry, Payee } from "../models/index.ts";
import { EpochMismatchError, closeEpoch, refreshEpochs, type CloseContext, type CloseResult } from "./closer.ts";
import { repostVetoedEpoch, type RepostResult } from "./repost.ts";
import { KeyedQueues } from "../util/serial.ts";

interface Log {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export class EpochScheduler extends EventEmitter<{ result: [CloseResult]; error: [{ model: string; error: Error }] }> {
  private timer: NodeJS.Timeout | null = null;
  private readonly queues = new KeyedQueues();
  private readonly busy = new Set<string>();
  private readonly sinceCheck = new Map<string, number>();
  private readonly halted = new Map<string, string>();
  private readonly startedAt: number;
  private stopped = false;
  private readonly inflight = new Set<Promise<unknown>>();

  constructor(
    private readonly ctx: CloseContext,
    private readonly models: ModelRegistry,
    private readonly schedule: EpochsSection,
    private readonly log: Log,
  ) {
    super();
    this.startedAt = ctx.now();
  }

  start(): void {
    if (!this.schedule.enabled || this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.schedule.checkIntervalSeconds * 1000);
    this.timer.unref();
    void this.tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.allSettled([...this.inflight]);
  }

  /** Models whose epochs stopped (veto, or the chain disagrees with the ledger), with why. */
  haltedModels(): Record<string, string> {
    return Object.fromEntries(this.halted);
  }

  /** A payment of `modelId` settled on this instance. */
  notePayment(modelId: string): void {
    const count = this.schedule.paymentCount;
    if (!this.schedule.enabled || count === null || this.stopped) return;
    const n = (this.sinceCheck.get(modelId) ?? 0) + 1;
    this.sinceCheck.set(modelId, n);
    const model = this.models.payee(modelId);
    if (n >= count && model) this.trigger(model, count);
  }

  /** Closes an epoch of one model (or every model) now, whatever the schedule says. */
  async closeNow(modelId?: string): Promise<CloseResult[]> {
    const targets = modelId === undefined ? this.models.payees() : [this.models.payee(modelId)].filter((m): m is Payee => m !== undefined);
    return Promise.all(targets.map((m) => this.run(m, 1)));
  }

  /** Reposts the model's vetoed epoch (repost.ts) in its queue; its epochs then resume. */
  async repost(model: Payee): Promise<RepostResult> {
    const result = await this.queues.run(model.id, () => repostVetoedEpoch(this.ctx, model));
    this.halted.delete(model.id);
    this.log.warn({ ...result }, "vetoed epoch reposted by the operator: epochs of this model resume");
    return result;
  }

  private trigger(model: Payee, minOutputs: number): void {
    if (this.busy.has(model.id) || this.halted.has(model.id)) return;
    void this.run(model, minOutputs).catch(() => undefined);
  }

  private run(model: Payee, minOutputs: number): Promise<CloseResult> {
    this.busy.add(model.id);
    const job = this.queues.run(model.id, async () => {
      this.sinceCheck.set(model.id, 0);
      try {
        const result = await closeEpoch(this.ctx, model, { minOutputs });
        if (result.status === "closed") this.log.info({ ...result }, "epoch closed");
        if (result.status === "halted") {
          this.halted.set(model.id, result.reason);
          this.log.error({ ...result }, "epoch vetoed by the guardian: epochs of this model are halted until an operator resolves it");
        }
        this.emit("result", result);
        return result;
      } catch (error) {
        if (error instanceof EpochMismatchError) this.halted.set(model.id, "chain_mismatch");
        this.log.error({ model: model.id, err: { message: (error as Error).message } }, "closing an epoch failed; will retry");
        this.emit("error", { model: model.id, error: error as Error });
        throw error;
      } finally {
        this.busy.delete(model.id);
      }
    });
    this.inflight.add(job);
    void job.finally(() => this.inflight.delete(job)).catch(() => undefined);
    return job;
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    for (const model of this.models.payees()) {
      if (this.busy.has(model.id) || this.halted.has(model.id)) continue;
      try {
        const latest = await refreshEpochs(this.ctx, model);
        if (latest?.status === "vetoed") {
          this.halted.set(model.id, "epoch_vetoed");
          continue;
        }
        const due = this.due(latest);
        if (due !== null) this.trigger(model, due);
      } catch (error) {
        this.log.warn({ model: model.id, err: { message: (error as Error).message } }, "epoch check failed; will retry");
      }
    }
  }

  /** minOutputs for a close that is due now, or null. */
  private due(latest: { createdAt: number } | null): number | null {
    const { intervalSeconds, paymentCount } = this.schedule;
    if (intervalSeconds !== null) {
      const last = latest?.createdAt ?? this.startedAt;
      if (this.ctx.now() - last >= intervalSeconds * 1000) return 1;
    }
    // Other instances' payments count too: the closer checks the ledger's real number.
    if (paymentCount !== null) return paymentCount;
    return null;
  }
}
