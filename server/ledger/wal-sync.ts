// Durable SQLite commits without the event loop waiting on the disk. SQLite runs with
// synchronous=NORMAL (a commit writes its WAL frames but does not fsync them) and the ledger
// fsyncs the WAL file itself on libuv's thread pool, resolving each commit's callers only after
// an fsync that started after that commit. That is what synchronous=FULL guarantees in WAL mode
// (the WAL is synced at every commit), with the fsync (milliseconds, sometimes tens) off the loop.
// Commits that arrive while an fsync runs share the next one.
import { open, stat, type FileHandle } from "node:fs/promises";

/** fsync(2) of an open file; replaceable in tests. */
export type Fsync = (file: FileHandle) => Promise<void>;

export class WalSync {
  private handle: { file: FileHandle; inode: number } | null = null;
  private running: Promise<void> | null = null;
  private next: Promise<void> | null = null;
  /** fsyncs done (for tests and metrics). */
  syncs = 0;
  /** The longest fsync since takeSlowestMs() last read it (a slow disk holds every paid answer this long). */
  private slowestMs = 0;

  constructor(
    private readonly walPath: string,
    private readonly fsync: Fsync = (file) => file.sync(),
  ) {}

  /** Resolves once everything committed before this call is on disk. */
  sync(): Promise<void> {
    if (!this.running) {
      this.running = this.flush().finally(() => {
        this.running = null;
      });
      return this.running;
    }
    // The running fsync may have started before this commit: the next one covers it.
    const again = () => {
      this.next = null;
      return this.sync();
    };
    this.next ??= this.running.then(again, again);
    return this.next;
  }

  private async flush(): Promise<void> {
    const file = await this.walFile();
    const started = performance.now();
    if (file) await this.fsync(file);
    this.slowestMs = Math.max(this.slowestMs, performance.now() - started);
    this.syncs++;
  }

  /** The longest fsync (ms) since the previous call; 0 if none ran. */
  takeSlowestMs(): number {
    const slowest = this.slowestMs;
    this.slowestMs = 0;
    return slowest;
  }

  /** The WAL file, opened again if it was replaced (SQLite deletes it when the last connection closes). */
  private async walFile(): Promise<FileHandle | null> {
    const now = await stat(this.walPath).catch(() => null);
    if (!now) return null; // no WAL: nothing was written through it
    if (this.handle?.inode === now.ino) return this.handle.file;
    await this.handle?.file.close();
    const file = await open(this.walPath, "r+");
    this.handle = { file, inode: (await file.stat()).ino };
    return file;
  }

  /** Waits for the fsyncs in flight, then closes the file. */
  async close(): Promise<void> {
    await (this.next ?? this.running)?.catch(() => undefined);
    await this.handle?.file.close();
    this.handle = null;
  }
}
