// Crash-safe file and folder writes: data goes to a temporary name in the same folder, is flushed to disk
// (fsync), and only then renamed over the final name, so readers see the old contents or the new, never half.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

/** A unique sibling name for `target`: `.<base>.<tag>-<pid>-<random>` in the same folder (same filesystem, so rename is atomic). */
export function tempSibling(target: string, tag = 'tmp'): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${tag}-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Flushes a folder's entries (new names, renames) to disk. Some platforms cannot open folders; that is not an error. */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'EBADF') throw err;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Writes `chunks` to `file` (created or truncated), fsyncs and closes it. Chunks are written in order. */
export function writeChunksSync(file: string, chunks: Iterable<Uint8Array>): number {
  const fd = fs.openSync(file, 'w', 0o644);
  let total = 0;
  try {
    for (const chunk of chunks) {
      let done = 0;
      while (done < chunk.byteLength) done += fs.writeSync(fd, chunk, done, chunk.byteLength - done);
      total += chunk.byteLength;
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return total;
}

/**
 * Writes `file` atomically: a temporary sibling is written and fsynced, then renamed over `file`, then the
 * folder is fsynced. On any error the temporary file is removed and `file` is untouched.
 */
export function writeFileAtomic(file: string, data: Uint8Array | string | Iterable<Uint8Array>): number {
  if (!fs.existsSync(path.dirname(path.resolve(file)))) throw new Error(`cannot write ${file}: folder ${path.dirname(path.resolve(file))} does not exist`);
  const tmp = tempSibling(file);
  const chunks: Iterable<Uint8Array> = typeof data === 'string' ? [Buffer.from(data, 'utf8')] : data instanceof Uint8Array ? [data] : data;
  try {
    const n = writeChunksSync(tmp, chunks);
    fs.renameSync(tmp, file);
    fsyncDir(path.dirname(file));
    return n;
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * Moves a fully written and fsynced folder `staged` to `target`. An existing `target` is first renamed aside
 * (`.<base>.old-...`), then `staged` takes its name, then the old one is deleted. NOTE: between the two renames
 * (two syscalls) a crash leaves only the aside copy; `findAsideFolder` lets a loader recover it.
 */
export function replaceFolder(staged: string, target: string): void {
  const parent = path.dirname(target);
  let aside: string | null = null;
  if (fs.existsSync(target)) {
    aside = tempSibling(target, 'old');
    fs.renameSync(target, aside);
  }
  try {
    fs.renameSync(staged, target);
  } catch (err) {
    if (aside) fs.renameSync(aside, target);
    throw err;
  }
  fsyncDir(parent);
  if (aside) fs.rmSync(aside, { recursive: true, force: true });
}

// The names tempSibling gives: `.<base>.<tag>-<pid>-<8 hex digits>`.
const SIBLING_NAME = /^\.(.+)\.(tmp|old)-(\d+)-[0-9a-f]{8}$/;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes what interrupted writes left in `parent`: temporary siblings (`.X.tmp-*`) of processes that are no
 * longer running (or of this process, whose writes are synchronous and so finished), and set-aside copies
 * (`.X.old-*`) whose `X` exists again. A set-aside copy whose `X` is missing is the only copy and is kept.
 * Returns the paths removed.
 */
export function removeInterruptedWrites(parent: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(parent);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = SIBLING_NAME.exec(name);
    if (!m) continue;
    const [, base, tag, pid] = m;
    const orphan = tag === 'tmp'
      ? Number(pid) === process.pid || !processAlive(Number(pid))
      : fs.existsSync(path.join(parent, base));
    if (!orphan) continue;
    fs.rmSync(path.join(parent, name), { recursive: true, force: true });
    removed.push(path.join(parent, name));
  }
  return removed;
}

/** Folders left aside by an interrupted `replaceFolder(…, target)`, newest first. */
export function findAsideFolders(target: string): string[] {
  const parent = path.dirname(target);
  const prefix = `.${path.basename(target)}.old-`;
  let names: string[];
  try {
    names = fs.readdirSync(parent);
  } catch {
    return [];
  }
  return names.filter((n) => n.startsWith(prefix))
    .map((n) => path.join(parent, n))
    .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
}
