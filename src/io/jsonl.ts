// JSON Lines datasets: one JSON object per line. The reader trusts nothing in the file: a line that is not
// JSON, or not an object, is reported with its line number; a missing or ill-typed column with the row
// number (and its line). Blank lines are skipped. The writer is atomic.
import * as fs from 'node:fs';
import { writeFileAtomic } from './atomic.js';

/**
 * What a column must hold: 'string', 'number', 'boolean', 'scalar' (string or number), 'chat' (a string, or a
 * non-empty list of {role, content} messages with string fields: TRL's conversational format), or 'any' JSON value.
 */
export type ColumnType = 'string' | 'number' | 'boolean' | 'scalar' | 'chat' | 'any';

export interface ColumnSpec {
  type: ColumnType;
  /** A row may lack it (default false: every row must have it). */
  optional?: boolean;
}

export interface ReadJsonlOptions {
  /** Required (or optional) columns and their types; other columns are kept as they are. */
  columns?: Record<string, ColumnType | ColumnSpec>;
  /** Refuse a file with no rows (default true). */
  nonEmpty?: boolean;
  /** Stop after this many rows. */
  limit?: number;
}

const typeOk = (type: ColumnType, v: unknown): boolean => {
  switch (type) {
    case 'string': return typeof v === 'string';
    case 'number': return typeof v === 'number' && Number.isFinite(v);
    case 'boolean': return typeof v === 'boolean';
    case 'scalar': return typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));
    case 'chat': return typeof v === 'string' || (Array.isArray(v) && v.length > 0 && v.every((m) =>
      m !== null && typeof m === 'object' && typeof (m as { role?: unknown }).role === 'string' && typeof (m as { content?: unknown }).content === 'string'));
    case 'any': return v !== undefined;
  }
};

const typeName = (type: ColumnType) => (type === 'scalar' ? 'a string or a number' : type === 'any' ? 'a JSON value'
  : type === 'chat' ? 'a string or a list of {role, content} messages'
  : type === 'number' ? 'a finite number' : `a ${type}`);

const valueType = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v);

/**
 * Parses JSONL `text` (named `source` in errors). Rows are numbered from 1 in file order, blank lines
 * excluded; errors give both the row and the 1-based line.
 */
export function parseJsonl(text: string, source: string, options: ReadJsonlOptions = {}): Record<string, unknown>[] {
  const columns = Object.entries(options.columns ?? {}).map(([name, s]) => [name, typeof s === 'string' ? { type: s } : s] as const);
  if (options.limit !== undefined && !(Number.isInteger(options.limit) && options.limit >= 0) && options.limit !== Infinity) {
    throw new RangeError(`parseJsonl: limit must be an integer >= 0 (or Infinity), got ${options.limit}`);
  }
  const rows: Record<string, unknown>[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (options.limit !== undefined && rows.length >= options.limit) break;
    const line = lines[i].replace(/\r$/, '');
    if (line.trim() === '') continue;
    const where = `${source}:${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(i === 0 ? line.replace(/^\uFEFF/, '') : line);
    } catch (err) {
      throw new SyntaxError(`${where}: line ${i + 1} is not valid JSON (${(err as Error).message}): ${preview(line)}`);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      throw new TypeError(`${where}: line ${i + 1} must be a JSON object, got ${valueType(value)}`);
    }
    const row = value as Record<string, unknown>;
    const n = rows.length + 1;
    for (const [name, spec] of columns) {
      if (!Object.prototype.hasOwnProperty.call(row, name) || row[name] === undefined) {
        if (spec.optional) continue;
        const have = Object.keys(row);
        throw new RangeError(`${where}: row ${n} (line ${i + 1}) has no column '${name}' (it has: ${have.length ? have.join(', ') : 'nothing'})`);
      }
      if (!typeOk(spec.type, row[name])) {
        throw new TypeError(`${where}: row ${n} (line ${i + 1}): column '${name}' must be ${typeName(spec.type)}, got ${valueType(row[name])} ${preview(JSON.stringify(row[name]))}`);
      }
    }
    rows.push(row);
  }
  if ((options.nonEmpty ?? true) && rows.length === 0) throw new RangeError(`${source}: no rows (the file is empty)`);
  return rows;
}

/** Reads and validates a JSONL file (see parseJsonl). */
export function readJsonl(file: string, options: ReadJsonlOptions = {}): Record<string, unknown>[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : (err as Error).message}`);
  }
  return parseJsonl(text, file, options);
}

/** Writes `rows` as JSONL, atomically (a crash leaves the old file or the new one). */
export function writeJsonl(file: string, rows: readonly unknown[]): void {
  writeFileAtomic(file, rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : ''));
}

function preview(s: string): string {
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
