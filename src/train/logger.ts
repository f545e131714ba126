// Training logs: one JSON object per step, appended to a JSONL file and handed to callbacks, with TRL's
// metric names. The file is opened per write (append), so a crash loses at most the line being written.
import * as fs from 'node:fs';
import * as path from 'node:path';

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

  /** `keepRecords` false writes the file only, for logs too large to hold (sampled completions). */
  constructor(readonly file: string | null, readonly keepRecords = true) {
    if (file) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, '');
    }
  }

  write(record: LogRecord): void {
    if (this.keepRecords) this.records.push(record);
    if (this.file) fs.appendFileSync(this.file, JSON.stringify(record) + '\n');
  }
}
