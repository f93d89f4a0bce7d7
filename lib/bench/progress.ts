/**
 * A progress bar on stderr (cli-progress) driven by elapsed time: the bench announces phases
 * with their expected duration, and the bar advances with the clock between announcements.
 */
import cliProgress from 'cli-progress';

export interface ProgressSink {
  /** total expected milliseconds of all phases */
  start(totalMs: number): void;
  /** a phase begins; `expectedMs` is its share of the total */
  phase(name: string, expectedMs: number): void;
  stop(): void;
}

export const noProgress: ProgressSink = { start() {}, phase() {}, stop() {} };

export class TimeProgress implements ProgressSink {
  readonly #bar: cliProgress.SingleBar;
  #total = 0;
  #base = 0;
  #phaseStart = 0;
  #phaseMs = 0;
  #timer: NodeJS.Timeout | undefined;
  #started = false;

  constructor(stream: NodeJS.WritableStream = process.stderr) {
    this.#bar = new cliProgress.SingleBar(
      {
        stream,
        format: 'bench [{bar}] {percentage}% | {phase}',
        hideCursor: true,
        clearOnComplete: true,
        barsize: 30,
        fps: 10,
      },
      cliProgress.Presets.shades_classic,
    );
  }

  start(totalMs: number): void {
    if (this.#started) return;
    this.#started = true;
    this.#total = Math.max(1, Math.round(totalMs));
    this.#bar.start(this.#total, 0, { phase: 'loading' });
    this.#timer = setInterval(() => this.#tick(), 100);
    this.#timer.unref();
  }

  phase(name: string, expectedMs: number): void {
    if (!this.#started) return;
    this.#base += this.#phaseMs;
    this.#phaseMs = Math.max(0, expectedMs);
    this.#phaseStart = performance.now();
    this.#bar.update(Math.min(this.#total, Math.round(this.#base)), { phase: name });
  }

  #tick(): void {
    const inPhase = Math.min(this.#phaseMs, performance.now() - this.#phaseStart);
    this.#bar.update(Math.min(this.#total, Math.round(this.#base + inPhase)));
  }

  stop(): void {
    if (!this.#started) return;
    this.#started = false;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#bar.update(this.#total);
    this.#bar.stop();
  }
}
