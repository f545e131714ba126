// Runs untrusted generated code in a child process: a fresh temp folder, an empty environment, a wall-clock
// limit (the whole process group is killed), a memory limit, no network, and, when run as root, an
// unprivileged user. What could be achieved on this machine is probed once and reported by `sandboxInfo()`.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, delimiter } from 'node:path';

export type CodeLanguage = 'javascript' | 'typescript' | 'python';

/** The isolation the sandbox achieved on this machine. */
export interface SandboxInfo {
  /** 'namespace': a network namespace with no interfaces (`unshare -n`); 'guard': the runtime's network APIs are replaced by throwing stubs only. */
  network: 'namespace' | 'guard';
  /** 'nobody': the code runs as uid/gid 65534 (`setpriv`); 'same': as the calling user. */
  user: 'nobody' | 'same';
  /** Node's permission model (`--permission`/`--experimental-permission`): no fs writes, no child processes, no workers, no addons, reads only in the run folder. */
  nodePermissions: boolean;
  /** How TypeScript is run: transpiled with the `typescript` package, with Node's type stripping, or not at all. */
  typescript: 'typescript' | 'strip-types' | 'unavailable';
  /** The python interpreter, or null when none was found. */
  python: string | null;
}

export interface RunOptions {
  /** Standard input. */
  input?: string;
  /** Wall-clock limit in ms. */
  timeoutMs: number;
  /** Memory limit in MiB (V8 heap for node plus an address-space cap; address space for python). */
  memoryMb: number;
  /** Stdout beyond this many bytes kills the run (default 1 MiB). */
  maxOutputBytes?: number;
}

export interface RunResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  outputLimited: boolean;
}

const UTIL = (name: string) => ['/usr/bin/' + name, '/bin/' + name].find((p) => existsSync(p)) ?? null;

function findPython(): string | null {
  const candidates = ['/usr/bin/python3', '/usr/local/bin/python3'];
  for (const dir of (process.env.PATH ?? '').split(delimiter)) if (dir) candidates.push(join(dir, 'python3'));
  for (const p of candidates) {
    if (!existsSync(p)) continue;
    const r = spawnSync(p, ['-I', '-c', 'print(1)'], { env: {}, encoding: 'utf8', timeout: 10_000 });
    if (r.status === 0 && r.stdout.trim() === '1') return p;
  }
  return null;
}

const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

function permissionFlag(): string | null {
  const flags = process.allowedNodeEnvironmentFlags;
  if (flags.has('--permission')) return '--permission';
  if (flags.has('--experimental-permission')) return '--experimental-permission';
  return null;
}

let probed: { info: SandboxInfo; prefix: string[] } | undefined;

// Finds the strongest wrapper (unshare -n, setpriv to nobody) that can actually start node here.
function probe(): { info: SandboxInfo; prefix: string[] } {
  if (probed) return probed;
  const unshare = UTIL('unshare');
  const setpriv = UTIL('setpriv');
  const drop = setpriv && process.getuid?.() === 0 ? [setpriv, '--reuid=65534', '--regid=65534', '--clear-groups'] : null;
  const tries: { prefix: string[]; network: SandboxInfo['network']; user: SandboxInfo['user'] }[] = [];
  if (unshare && drop) tries.push({ prefix: [unshare, '-n', ...drop], network: 'namespace', user: 'nobody' });
  if (unshare) tries.push({ prefix: [unshare, '-n'], network: 'namespace', user: 'same' });
  if (drop) tries.push({ prefix: drop, network: 'guard', user: 'nobody' });
  tries.push({ prefix: [], network: 'guard', user: 'same' });
  let chosen = tries[tries.length - 1];
  for (const t of tries) {
    const [cmd, ...rest] = [...t.prefix, process.execPath, '-e', 'process.stdout.write("ok")'];
    const r = spawnSync(cmd, rest, { env: {}, encoding: 'utf8', timeout: 10_000, cwd: tmpdir() });
    if (r.status === 0 && r.stdout === 'ok') {
      chosen = t;
      break;
    }
  }
  let typescript: SandboxInfo['typescript'] = 'unavailable';
  try {
    createRequire(import.meta.url).resolve('typescript');
    typescript = 'typescript';
  } catch {
    if (process.allowedNodeEnvironmentFlags.has('--experimental-strip-types')) typescript = 'strip-types';
  }
  probed = {
    prefix: chosen.prefix,
    info: { network: chosen.network, user: chosen.user, nodePermissions: permissionFlag() !== null, typescript, python: findPython() },
  };
  return probed;
}

/** What isolation the code sandbox achieves on this machine (probed once, a few process starts). */
export function sandboxInfo(): SandboxInfo {
  return { ...probe().info };
}

// Preloaded into node: network entry points become throwing stubs (the permission model then keeps the code
// from reaching the originals through process.binding or a child process).
const NODE_GUARD = `'use strict';
const deny = (what) => function () { const e = new Error('network access is disabled in the code sandbox (' + what + ')'); e.code = 'ERR_ACCESS_DENIED'; throw e; };
const stub = (mod, names) => { const m = require(mod); for (const n of names) if (n in m) m[n] = deny(mod + '.' + n); return m; };
const net = stub('net', ['connect', 'createConnection', 'createServer']);
net.Socket.prototype.connect = deny('net.Socket.connect');
net.Server.prototype.listen = deny('net.Server.listen');
stub('tls', ['connect', 'createServer', 'createSecureContext']);
const dgram = stub('dgram', ['createSocket']);
dgram.Socket.prototype.bind = deny('dgram.bind'); dgram.Socket.prototype.send = deny('dgram.send'); dgram.Socket.prototype.connect = deny('dgram.connect');
stub('http', ['request', 'get', 'createServer']);
stub('https', ['request', 'get', 'createServer']);
stub('http2', ['connect', 'createServer', 'createSecureServer']);
const dnsNames = ['lookup', 'lookupService', 'resolve', 'resolve4', 'resolve6', 'resolveAny', 'resolveCname', 'resolveMx', 'resolveNs', 'resolveTxt', 'resolveSrv', 'reverse'];
const dns = stub('dns', dnsNames);
stub('dns/promises', dnsNames);
dns.Resolver = function () { deny('dns.Resolver')(); };
for (const g of ['fetch', 'WebSocket', 'EventSource']) if (g in globalThis) Object.defineProperty(globalThis, g, { value: deny(g), writable: false, configurable: false });
require('module').syncBuiltinESMExports();
`;

const PYTHON_RUNNER = `import socket as _socket, runpy as _runpy, sys as _sys
def _deny(*a, **k):
    raise OSError('network access is disabled in the code sandbox')
for _n in ('socket', 'create_connection', 'create_server', 'getaddrinfo', 'gethostbyname', 'gethostbyname_ex', 'socketpair', 'fromfd'):
    setattr(_socket, _n, _deny)
_target = _sys.argv[1]
_sys.argv = [_target]
del _socket, _deny, _n
_runpy.run_path(_target, run_name='__main__')
`;

/** Source for the language, ready to run (TypeScript transpiled when the `typescript` package is present). */
function prepare(language: CodeLanguage, code: string): { file: string; source: string; nodeFlags: string[] } {
  if (language === 'python') return { file: 'main.py', source: code, nodeFlags: [] };
  const esm = /^\s*(import\s+[\w*{'"]|export\s)/m.test(code);
  if (language === 'javascript') return { file: esm ? 'main.mjs' : 'main.cjs', source: code, nodeFlags: [] };
  const ts = probe().info.typescript;
  if (ts === 'typescript') {
    const tsc = createRequire(import.meta.url)('typescript') as typeof import('typescript');
    const out = tsc.transpileModule(code, { compilerOptions: { target: tsc.ScriptTarget.ES2022, module: esm ? tsc.ModuleKind.ESNext : tsc.ModuleKind.CommonJS } });
    return { file: esm ? 'main.mjs' : 'main.cjs', source: out.outputText, nodeFlags: [] };
  }
  if (ts === 'strip-types') return { file: esm ? 'main.mts' : 'main.cts', source: code, nodeFlags: ['--experimental-strip-types'] };
  throw new Error('code sandbox: cannot run TypeScript here: install the `typescript` package (npm i -D typescript) or use Node >= 22.6');
}

/** A run folder holding the program; `run` may be called on it many times (one per test case). The folder is not writable by the program when it runs as nobody or under Node's permission model. */
export class SandboxDir {
  private constructor(readonly dir: string, private readonly language: CodeLanguage, private readonly file: string,
    private readonly nodeFlags: string[]) {}

  /** Writes `code` (plus, per test, nothing else) into a fresh temp folder. */
  static async create(language: CodeLanguage, code: string): Promise<SandboxDir> {
    const info = probe().info;
    if (language === 'python' && !info.python) throw new Error('code sandbox: python3 was not found (install python3 or score only JavaScript/TypeScript)');
    const { file, source, nodeFlags } = prepare(language, code);
    const dir = await fs.mkdtemp(join(tmpdir(), 'thinkgrad-code-'));
    await fs.chmod(dir, 0o755); // readable by the unprivileged user; never writable by it
    await fs.writeFile(join(dir, file), source, { mode: 0o644 });
    if (language === 'python') await fs.writeFile(join(dir, 'runner.py'), PYTHON_RUNNER, { mode: 0o644 });
    else await fs.writeFile(join(dir, 'guard.cjs'), NODE_GUARD, { mode: 0o644 });
    return new SandboxDir(dir, language, file, nodeFlags);
  }

  /** Runs `file` (default the program) with the limits; never rejects for the program's own failures. */
  run(options: RunOptions, file = this.file): Promise<RunResult> {
    const { prefix } = probe();
    const mem = Math.max(16, Math.floor(options.memoryMb));
    let command: string[];
    let addressSpaceMb: number;
    if (this.language === 'python') {
      command = [probe().info.python!, '-I', '-B', 'runner.py', file];
      addressSpaceMb = mem;
    } else {
      const perm = permissionFlag();
      // NOTE: Node 20 needs `dir/*` for the folder's files (and aborts when given both forms); Node 23 dropped
      // wildcards and takes a folder recursively. Only Node 20 is tested here.
      command = [process.execPath, '--no-warnings', `--max-old-space-size=${mem}`, ...this.nodeFlags,
        ...(perm ? [perm, `--allow-fs-read=${NODE_MAJOR < 23 ? `${this.dir}/*` : this.dir}`] : []), '--require', join(this.dir, 'guard.cjs'), join(this.dir, file)];
      addressSpaceMb = mem + 1024; // V8 reserves address space beyond its heap; the heap flag is the real limit
    }
    // ulimit -v (KiB) caps the address space; -f caps files written (512-byte blocks in POSIX sh).
    const script = `ulimit -v ${addressSpaceMb * 1024} && ulimit -f 20480 && unset PWD OLDPWD && exec "$@"`;
    const argv = [...prefix, '/bin/sh', '-c', script, 'sh', ...command];
    const maxOut = options.maxOutputBytes ?? 1 << 20;
    return new Promise((resolve) => {
      const child = spawn(argv[0], argv.slice(1), { cwd: this.dir, env: {}, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let outBytes = 0;
      let errBytes = 0;
      let timedOut = false;
      let outputLimited = false;
      const kill = () => {
        try {
          process.kill(-child.pid!, 'SIGKILL'); // the whole process group
        } catch {
          child.kill('SIGKILL');
        }
      };
      const timer = setTimeout(() => {
        timedOut = true;
        kill();
      }, options.timeoutMs);
      child.stdout.on('data', (b: Buffer) => {
        outBytes += b.length;
        if (outBytes > maxOut) {
          outputLimited = true;
          kill();
        } else out.push(b);
      });
      child.stderr.on('data', (b: Buffer) => {
        if ((errBytes += b.length) <= 65536) err.push(b);
      });
      child.stdin.on('error', () => {}); // the program may exit without reading its input
      child.stdin.end(options.input ?? '');
      const finish = (exitCode: number | null) => {
        clearTimeout(timer);
        resolve({ exitCode, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), timedOut, outputLimited });
      };
      child.on('error', () => finish(null));
      child.on('close', (code) => finish(code));
    });
  }

  async dispose(): Promise<void> {
    await fs.rm(this.dir, { recursive: true, force: true });
  }
}
