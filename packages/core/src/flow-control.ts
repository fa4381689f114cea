/**
 * Backpressure between a source that can wait (a recording read from a file) and a sink that
 * is slower than it (an exporter whose collector is slow or away). A live kernel source can't
 * wait, so it never looks at this: there the sink's bounded queue and its counters apply.
 */

/** A pause signal shared by one source and one sink. */
export class FlowControl {
  private waiting: Array<() => void> = [];
  private pausedNow = false;

  /** True while the sink asks the source to wait. */
  get paused(): boolean {
    return this.pausedNow;
  }

  /** The sink is full: the source should stop producing. */
  pause(): void {
    this.pausedNow = true;
  }

  /** The sink has room again: waiting sources go on. */
  resume(): void {
    if (!this.pausedNow) return;
    this.pausedNow = false;
    const waiting = this.waiting;
    this.waiting = [];
    for (const go of waiting) go();
  }

  /** Resolves when the source may go on (at once when not paused). */
  whenResumed(): Promise<void> {
    return this.pausedNow
      ? new Promise((resolve) => this.waiting.push(resolve))
      : Promise.resolve();
  }
}
