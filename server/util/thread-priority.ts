// Background threads (the epoch worker) give the CPU to the event loop's thread first: on a busy
// host with few cores, building a 10,000-output epoch at the same priority delays every request.
import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";

/** Nice value of background threads (0 is normal, 19 the lowest). */
const BACKGROUND_NICE = 10;

/**
 * Lowers the calling thread's scheduling priority. Linux only (a thread's id is a valid target of
 * setpriority there, and /proc/thread-self names it); elsewhere, or when refused, a no-op.
 * Returns the thread id it lowered, or null.
 */
export function lowerThreadPriority(): number | null {
  try {
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    if (!Number.isInteger(tid) || tid <= 0) return null;
    setPriority(tid, BACKGROUND_NICE);
    return tid;
  } catch {
    return null;
  }
}
