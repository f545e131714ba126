// Training logs: one JSON object per step, appended to a JSONL file and handed to callbacks, with TRL's
// metric names. The file is opened per write (append), so a crash loses at most the line being written; a
// resumed run keeps the lines up to its checkpoint's step and appends after them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';

export type LogRecord = Record<string, number | string | boolean | null>;

export interface TrainerCallbacks {
  /** After every optimizer step, with that step's metrics. */
  onStep?: (log: LogRecord) => void;
  /** After each logged GRPO step with logCompletions on, with the completions recorded at that step. */
  onCompletions?: (records: LogRecord[]) => void;
  /** After each evaluation, with its metrics. */
  onEvaluate?: (metrics: LogRecord) => void;
  /** After a checkpoint is written, with its folder. */
  onSave?: (dir: string) => void;
}

export class JsonlLogger {
  readonly records: LogRecord[] = [];
  private started = false;

  /** `keepRecords` false writes the file only, for logs too large to hold (sampled completions). */
  constructor(readonly file: string | null, readonly keepRecords = true) {}

  /** Starts the log of a fresh run (an empty file) unless it was started or resumed already. */
  start(): void {
    if (this.started) return;
    this.started = true;
    if (this.file) {
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
      fs.writeFileSync(this.file, '');
    }
  }

  write(record: LogRecord): void {
    this.start();
    if (this.keepRecords) this.records.push(record);
    if (this.file) fs.appendFileSync(this.file, JSON.stringify(record) + '\n');
  }

  /**
   * Continues the log of a run resumed at `step`: the file's records up to that step are kept (and become
   * `records`); later ones, which the resumed run logs again, are dropped.
   */
  resumeAt(step: number): void {
    this.started = true;
    this.records.length = 0;
    if (!this.file) return;
    const kept = truncateLogAfter(this.file, step);
    if (this.keepRecords) this.records.push(...kept);
  }
}

/**
 * Drops the records of JSONL log `file` whose step is after `step` (and a last line cut short by a crash),
 * rewriting the file atomically; returns the records kept. A missing file is left missing.
 */
export function truncateLogAfter(file: string, step: number): LogRecord[] {
  if (!Number.isInteger(step) || step < 0) throw new RangeError(`truncateLogAfter: step must be an integer >= 0, got ${step}`);
  if (!fs.existsSync(file)) return [];
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const kept: LogRecord[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let record: LogRecord;
    try {
      record = JSON.parse(line);
    } catch (err) {
      if (i === lines.length - 1) return; // the line being written when the run died
      throw new Error(`truncateLogAfter: ${file} line ${i + 1} is not JSON: ${(err as Error).message}`);
    }
    if (!(typeof record.step === 'number' && record.step > step)) kept.push(record);
  });
  writeFileAtomic(file, kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
  return kept;
}
