// A progress bar on stderr for long loops: redrawn in place on a terminal, a line every 10% otherwise
// (CI logs), with the rate, the time left and a caller-supplied status.
export class ProgressBar {
  private readonly started = performance.now();
  private lastPrinted = -1;
  private readonly tty = process.stderr.isTTY === true;

  constructor(readonly label: string, readonly total: number) {}

  update(done: number, status = ''): void {
    const fraction = this.total > 0 ? Math.min(1, done / this.total) : 1;
    const elapsed = (performance.now() - this.started) / 1000;
    const eta = fraction > 0 ? (elapsed / fraction) * (1 - fraction) : 0;
    const width = 24;
    const filled = Math.round(fraction * width);
    const line = `${this.label.padEnd(14)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${this.total} ` +
      `${elapsed.toFixed(0)}s elapsed, ${eta.toFixed(0)}s left${status ? `  ${status}` : ''}`;
    if (this.tty) {
      process.stderr.write(`\r${line.slice(0, (process.stderr.columns ?? 120) - 1)}\x1b[K`);
      if (done >= this.total) process.stderr.write('\n');
    } else {
      const decile = Math.floor(fraction * 10);
      if (decile !== this.lastPrinted) {
        this.lastPrinted = decile;
        process.stderr.write(line + '\n');
      }
    }
  }
}
