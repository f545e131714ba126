// Runs untrusted generated code under bubblewrap: new user, PID, mount, network, IPC and UTS namespaces, only
// the interpreter's files mounted (read-only) beside the program's folder, rlimits, and a wall-clock limit that
// ends the whole PID namespace. Without bubblewrap it refuses unless the caller opts into the weaker modes.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdtempSync, readlinkSync, realpathSync, rmSync, promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';

export type CodeLanguage = 'javascript' | 'typescript' | 'python';

/** Where the sandbox runs and whether it may run without bubblewrap. */
export interface SandboxOptions {
  /** The bubblewrap binary (default: `bwrap` on the PATH, else `/usr/bin/bwrap`). */
  bubblewrap?: string;
  /**
   * Run generated code although bubblewrap is missing or cannot start, with the weaker measures only (no
   * network namespace where `unshare -n` fails, `nobody` when root, ulimits, Node's permission model): the
   * code can then read world-readable files, leave processes and files behind and, as the same user, signal
   * the trainer. Default false: the code reward refuses to run.
   */
  unsafeWithoutBubblewrap?: boolean;
}

/** The isolation the sandbox achieves on this machine. */
export interface SandboxInfo {
  /** 'bubblewrap' when every program runs under bubblewrap; 'unsafe' for the weaker fallback (only with `unsafeWithoutBubblewrap`). */
  isolation: 'bubblewrap' | 'unsafe';
  /** The bubblewrap version in use (`bwrap --version`), or null. */
  bubblewrap: string | null;
  /** Why bubblewrap is not in use and how to install it; null when it is. */
  refusal: string | null;
  /** The namespaces the program gets of its own. */
  namespaces: ('user' | 'pid' | 'mount' | 'network' | 'ipc' | 'uts' | 'cgroup')[];
  /** The rlimits set on the program: address space, CPU seconds, file size, process count. */
  limits: ('address-space' | 'cpu-time' | 'file-size' | 'processes')[];
  /** 'namespace': no route to any host network; 'guard': only the runtime's network APIs are replaced by throwing stubs. */
  network: 'namespace' | 'guard';
  /** The user the program's processes have on the host: 'nobody' (uid 65534) or the trainer's own ('same'). */
  hostUser: 'nobody' | 'same';
  /** Node's permission model (`--permission`/`--experimental-permission`) as a second layer for JavaScript: no fs writes, no child processes, no workers, no addons, reads only in the run folder. */
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
  /**
   * 'program' (default): the run ends normally when the program returns or exits with status 0 in an orderly
   * way (`sys.exit()`, `process.exit(0)`); 'asserts': only when the code returns (for JavaScript: the event loop
   * drains), so that no exit can skip assertions appended to the program.
   */
  end?: 'program' | 'asserts';
}

export interface RunResult {
  exitCode: number | null;
  /** The program's standard output, the end marker removed. */
  stdout: string;
  stderr: string;
  timedOut: boolean;
  outputLimited: boolean;
  /** The runner printed the run's secret end marker last: the program reached its end (see `RunOptions.end`). */
  ranToEnd: boolean;
}

// Limits inside the sandbox. Node needs about ten threads of its own, and threads count as processes.
const MAX_PROCESSES = 32;
const MAX_FILE_BYTES = 16 << 20;
const TMP_BYTES = 32 << 20;
// After the sandbox's init is gone, stdout closes at once; a fallback run's orphan may hold it: stop waiting.
const PIPE_GRACE_MS = 200;
// Inside bubblewrap the program's folder is mounted here.
const BOX = '/sandbox';

const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

function permissionFlag(): string | null {
  const flags = process.allowedNodeEnvironmentFlags;
  if (flags.has('--permission')) return '--permission';
  if (flags.has('--experimental-permission')) return '--experimental-permission';
  return null;
}

function onPath(name: string, fallbacks: string[]): string | null {
  const candidates = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, name)), ...fallbacks];
  return candidates.find((p) => existsSync(p)) ?? null;
}

interface Python {
  /** The interpreter's real path (a pyenv shim is a shell script that cannot run in the sandbox). */
  executable: string;
  /** Its module search path: the folders the sandbox mounts for it. */
  path: string[];
}

function findPython(): Python | null {
  const candidates = ['/usr/bin/python3', '/usr/local/bin/python3'];
  for (const dir of (process.env.PATH ?? '').split(delimiter)) if (dir) candidates.push(join(dir, 'python3'));
  for (const p of candidates) {
    if (!existsSync(p)) continue;
    const r = spawnSync(p, ['-I', '-c', 'import json, os, sys; print(json.dumps([os.path.realpath(sys.executable), sys.path]))'],
      { env: {}, encoding: 'utf8', timeout: 10_000 });
    if (r.status !== 0) continue;
    try {
      const [executable, path] = JSON.parse(r.stdout) as [string, string[]];
      if (existsSync(executable)) return { executable, path: path.filter((d) => existsSync(d)) };
    } catch {
      // not a python we can describe: try the next candidate
    }
  }
  return null;
}

function typescriptSupport(): SandboxInfo['typescript'] {
  try {
    createRequire(import.meta.url).resolve('typescript');
    return 'typescript';
  } catch {
    return process.allowedNodeEnvironmentFlags.has('--experimental-strip-types') ? 'strip-types' : 'unavailable';
  }
}

/** How programs are started under one kind of isolation. */
interface Plan {
  info: SandboxInfo;
  python: Python | null;
  /** The full argv of one run of `command` (the interpreter's argv, paths as the program sees them) in the host folder `dir`. */
  wrap(dir: string, command: string[], limits: { addressSpaceMb: number; cpuSeconds: number }): string[];
  /** The run folder as the program sees it. */
  inside(dir: string): string;
}

const isRoot = () => process.getuid?.() === 0;

// The library folders of the binaries (from ldd), each as the dynamic loader names it and as it really is.
function libraryFolders(binaries: string[]): string[] | null {
  const ldd = onPath('ldd', ['/usr/bin/ldd']);
  if (!ldd) return null;
  const r = spawnSync(ldd, binaries, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) return null;
  const folders = new Set<string>();
  for (const m of r.stdout.matchAll(/\s(\/\S+) \(0x/g)) {
    if (!existsSync(m[1])) continue;
    folders.add(realpathSync(dirname(m[1])));
    folders.add(dirname(realpathSync(m[1])));
  }
  return [...folders];
}

// The bubblewrap arguments that build the sandbox's file system: the interpreters and their libraries
// read-only, the top-level symlinks of a merged-/usr system (/lib -> usr/lib), a private /proc for the new PID
// namespace, a minimal /dev, and small private /tmp and /dev/shm. Nothing else of the host (no /etc, /home,
// /root, /tmp) is there.
function filesystemArgs(binaries: string[], extraFolders: string[]): string[] | string {
  const libs = libraryFolders(binaries);
  if (!libs) return 'ldd (glibc) was not found to list the interpreters\' libraries';
  const files = new Set(binaries);
  const folders = new Set([...libs, ...extraFolders]);
  const args: string[] = [];
  for (const name of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    const p = '/' + name;
    if (existsSync(p) && lstatSync(p).isSymbolicLink()) args.push('--symlink', readlinkSync(p), p);
  }
  // Parents before children, so that a folder inside a mounted one is mounted over it, not under.
  for (const f of [...folders].sort((a, b) => a.length - b.length)) args.push('--ro-bind', f, f);
  for (const f of files) if (![...folders].some((d) => f.startsWith(d + '/'))) args.push('--ro-bind', f, f);
  args.push('--proc', '/proc', '--dev', '/dev', '--size', String(TMP_BYTES), '--tmpfs', '/tmp',
    '--size', String(TMP_BYTES), '--tmpfs', '/dev/shm');
  return args;
}

function rlimitArgs(prlimit: string, limits: { addressSpaceMb: number; cpuSeconds: number }): string[] {
  return [prlimit, `--as=${limits.addressSpaceMb * 1048576}`, `--cpu=${limits.cpuSeconds}`, `--fsize=${MAX_FILE_BYTES}`,
    `--nproc=${MAX_PROCESSES}`, '--core=0', '--'];
}

const INSTALL_HINT = 'install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap), '
  + 'allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1 where it exists), or pass '
  + 'unsafeWithoutBubblewrap: true to accept weaker isolation';

// The bubblewrap plan, or why it is not available. As root, bwrap runs as nobody (setpriv): the program's
// processes then count against RLIMIT_NPROC (root's are exempt) and are nobody's on the host too.
function bubblewrapPlan(bwrapOption: string | undefined, python: Python | null): Plan | string {
  const bwrap = bwrapOption ?? onPath('bwrap', ['/usr/bin/bwrap']);
  if (!bwrap || !existsSync(bwrap)) return `bubblewrap was not found${bwrapOption ? ` at ${bwrapOption}` : ' (bwrap on the PATH)'}`;
  const version = spawnSync(bwrap, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  if (version.status !== 0) return `${bwrap} --version failed: ${(version.stderr || version.error?.message || '').trim()}`;
  const prlimit = onPath('prlimit', ['/usr/bin/prlimit']);
  if (!prlimit) return 'prlimit (util-linux) was not found to set the sandbox\'s resource limits';
  const binaries = [realpathSync(process.execPath), realpathSync(prlimit), ...(python ? [python.executable] : [])];
  const fsArgs = filesystemArgs(binaries, python?.path ?? []);
  if (typeof fsArgs === 'string') return fsArgs;
  const setpriv = isRoot() ? onPath('setpriv', ['/usr/bin/setpriv']) : null;
  const base = ['--unshare-all', '--die-with-parent', '--new-session', '--hostname', 'sandbox', '--uid', '65534', '--gid', '65534', ...fsArgs];
  const plans = [
    ...(setpriv ? [{ prefix: [setpriv, '--reuid=65534', '--regid=65534', '--clear-groups'], hostUser: 'nobody' as const }] : []),
    { prefix: [], hostUser: 'same' as const },
  ];
  let failure = '';
  const probeDir = mkdtempSync(join(tmpdir(), 'thinkgrad-probe-'));
  chmodSync(probeDir, 0o755);
  // Both interpreters must start; python is given up (a later python program then says it was not found)
  // only when no way of running bubblewrap starts it.
  const candidates = [...plans.map((p) => ({ ...p, python })), ...(python ? plans.map((p) => ({ ...p, python: null })) : [])];
  for (const { prefix, hostUser, python: py } of candidates) {
    const wrap = (dir: string, command: string[], limits: { addressSpaceMb: number; cpuSeconds: number }) =>
      [...prefix, bwrap, ...base, '--ro-bind', dir, BOX, '--chdir', BOX, ...rlimitArgs(realpathSync(prlimit), limits), ...command];
    const starts = (command: string[]) => {
      const [cmd, ...rest] = wrap(probeDir, command, { addressSpaceMb: 4096, cpuSeconds: 10 });
      const r = spawnSync(cmd, rest, { env: {}, encoding: 'utf8', timeout: 10_000 });
      if (r.status === 0 && r.stdout === 'ok') return true;
      failure = (r.stderr || r.error?.message || `exit status ${r.status}`).trim();
      return false;
    };
    if (starts([process.execPath, '-e', 'process.stdout.write("ok")']) && (!py || starts([py.executable, '-I', '-c', 'print("ok", end="")']))) {
      rmSync(probeDir, { recursive: true, force: true });
      return {
        python: py,
        wrap,
        inside: () => BOX,
        info: {
          isolation: 'bubblewrap', bubblewrap: version.stdout.trim(), refusal: null,
          namespaces: ['user', 'pid', 'mount', 'network', 'ipc', 'uts', 'cgroup'],
          // Processes of uid 0 on the host ignore RLIMIT_NPROC.
          limits: hostUser === 'nobody' || !isRoot() ? ['address-space', 'cpu-time', 'file-size', 'processes'] : ['address-space', 'cpu-time', 'file-size'],
          network: 'namespace', hostUser, nodePermissions: permissionFlag() !== null, typescript: typescriptSupport(),
          python: py?.executable ?? null,
        },
      };
    }
  }
  rmSync(probeDir, { recursive: true, force: true });
  return `${bwrap} could not start a sandbox here: ${failure}`;
}

// The weaker fallback: unshare -n (a network namespace) and setpriv to nobody where they work, else nothing.
function unsafePlan(python: Python | null, refusal: string): Plan {
  const unshare = onPath('unshare', ['/usr/bin/unshare']);
  const setpriv = onPath('setpriv', ['/usr/bin/setpriv']);
  const drop = setpriv && isRoot() ? [setpriv, '--reuid=65534', '--regid=65534', '--clear-groups'] : null;
  const tries: { prefix: string[]; network: SandboxInfo['network']; hostUser: SandboxInfo['hostUser'] }[] = [];
  if (unshare && drop) tries.push({ prefix: [unshare, '-n', ...drop], network: 'namespace', hostUser: 'nobody' });
  if (unshare) tries.push({ prefix: [unshare, '-n'], network: 'namespace', hostUser: 'same' });
  if (drop) tries.push({ prefix: drop, network: 'guard', hostUser: 'nobody' });
  tries.push({ prefix: [], network: 'guard', hostUser: 'same' });
  const chosen = tries.find((t) => {
    const [cmd, ...rest] = [...t.prefix, process.execPath, '-e', 'process.stdout.write("ok")'];
    const r = spawnSync(cmd, rest, { env: {}, encoding: 'utf8', timeout: 10_000, cwd: tmpdir() });
    return r.status === 0 && r.stdout === 'ok';
  }) ?? tries[tries.length - 1];
  return {
    python,
    // ulimit -v (KiB) caps the address space, -t CPU seconds, -f files written (512-byte blocks in POSIX sh).
    wrap: (_dir, command, limits) => [...chosen.prefix, '/bin/sh', '-c',
      `ulimit -v ${limits.addressSpaceMb * 1024} && ulimit -t ${limits.cpuSeconds} && ulimit -f ${MAX_FILE_BYTES / 512} && unset PWD OLDPWD && exec "$@"`,
      'sh', ...command],
    inside: (dir) => dir,
    info: {
      isolation: 'unsafe', bubblewrap: null, refusal, namespaces: chosen.network === 'namespace' ? ['network'] : [],
      limits: ['address-space', 'cpu-time', 'file-size'], network: chosen.network, hostUser: chosen.hostUser,
      nodePermissions: permissionFlag() !== null, typescript: typescriptSupport(), python: python?.executable ?? null,
    },
  };
}

const plans = new Map<string, { bubblewrap: Plan | null; unsafe: Plan }>();
let pythonFound: Python | null | undefined;

// Probed once per bubblewrap path (a few process starts).
function plansFor(bwrap: string | undefined): { bubblewrap: Plan | null; unsafe: Plan } {
  const key = bwrap ?? '';
  const known = plans.get(key);
  if (known) return known;
  if (pythonFound === undefined) pythonFound = findPython();
  const bw = bubblewrapPlan(bwrap, pythonFound);
  let unsafe: Plan | undefined;
  const entry = {
    bubblewrap: typeof bw === 'string' ? null : bw,
    // The fallback is probed only when asked for.
    get unsafe(): Plan {
      return (unsafe ??= unsafePlan(pythonFound ?? null, typeof bw === 'string' ? `${bw}; ${INSTALL_HINT}` : ''));
    },
  };
  plans.set(key, entry);
  return entry;
}

/** The plan that runs programs under `options`, or the reason the sandbox refuses to run them. */
function planFor(options: SandboxOptions): Plan | string {
  const { bubblewrap, unsafe } = plansFor(options.bubblewrap);
  if (bubblewrap) return bubblewrap;
  if (options.unsafeWithoutBubblewrap) return unsafe;
  return `refusing to run generated code without bubblewrap: ${unsafe.info.refusal}`;
}

/**
 * What isolation the code sandbox achieves on this machine with these options (probed once per bubblewrap
 * path). When bubblewrap cannot run, `refusal` says why and the rest describes the weaker fallback that
 * `unsafeWithoutBubblewrap: true` would use.
 */
export function sandboxInfo(options: SandboxOptions = {}): SandboxInfo {
  if (options === null || typeof options !== 'object') throw new TypeError('sandboxInfo(options): options must be an object');
  const { bubblewrap, unsafe } = plansFor(options.bubblewrap);
  return structuredClone((bubblewrap ?? unsafe).info);
}

/** Why the sandbox refuses to run programs under `options` (and how to install bubblewrap), or null when it runs them. */
export function sandboxRefusal(options: SandboxOptions): string | null {
  const plan = planFor(options);
  return typeof plan === 'string' ? plan : null;
}

// The end marker. A program may stop early with a zero status (os._exit(0), process.exit(0)) before the
// assertions appended to it have run; so a run only counts when the runner prints a per-run random marker
// after the program returned. The marker never appears in the program's folder, argv or environment: the
// runner reads it from file descriptor 3 and closes that before the program starts, and the trainer checks
// that stdout ends with it. (A program could still walk the interpreter's frames to find the runner's local
// variable; that is deliberate introspection of the runner, not an exit a policy stumbles on.)
const PYTHON_RUNNER = `import os as _os, runpy as _runpy, sys as _sys
def _main():
    with _os.fdopen(3, 'rb') as f:
        marker = f.read()
    target, end = _sys.argv[1], _sys.argv[2]
    _sys.argv = [target]
    _os.environ.clear()  # bubblewrap sets PWD; the program gets an empty environment
    import socket
    def deny(*a, **k):
        raise OSError('network access is disabled in the code sandbox')
    for n in ('socket', 'create_connection', 'create_server', 'getaddrinfo', 'gethostbyname', 'gethostbyname_ex', 'socketpair', 'fromfd'):
        setattr(socket, n, deny)
    del socket, deny, n
    try:
        _runpy.run_path(target, run_name='__main__')
    except SystemExit as e:
        if end == 'asserts' or e.code not in (None, 0):
            raise
    for stream in (_sys.stdout, _sys.__stdout__):
        try:
            stream.flush()
        except Exception:
            pass
    _os.write(1, b'\\n' + marker + b'\\n')
_main()
`;

// Node: the runner replaces the network entry points by throwing stubs (a second layer under bubblewrap, the
// only one in the 'guard' fallback), makes console.assert throw like node:assert and offers \`assert\`
// (node:assert) as a global, then loads the program and prints the marker when it ended (see above).
const NODE_RUNNER = `'use strict';
const fs = require('node:fs');
const marker = fs.readFileSync(3);
fs.closeSync(3);
const [target, end] = process.argv.splice(2, 2);
process.argv[1] = target;
for (const name of Object.keys(process.env)) delete process.env[name]; // bubblewrap sets PWD; the program gets an empty environment
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
const assert = require('node:assert');
if (!('assert' in globalThis)) globalThis.assert = assert;
console.assert = (value, ...message) => { if (!value) assert.fail(message.length ? message.join(' ') : 'console.assert failed'); };
let loaded = false;
const printMarker = () => { fs.writeSync(1, Buffer.concat([Buffer.from('\\n'), marker, Buffer.from('\\n')])); };
// 'beforeExit' only comes when the event loop drains, never after process.exit() or an uncaught error.
if (end === 'asserts') process.once('beforeExit', () => { if (loaded) printMarker(); });
else process.once('exit', (code) => { if (code === 0) printMarker(); });
if (/\\.m[jt]s$/.test(target)) import(require('node:url').pathToFileURL(target).href).then(() => { loaded = true; });
else { require(target); loaded = true; }
`;

/** Source for the language, ready to run (TypeScript transpiled when the `typescript` package is present). */
function prepare(language: CodeLanguage, code: string, typescript: SandboxInfo['typescript']): { file: string; source: string; nodeFlags: string[] } {
  if (language === 'python') return { file: 'main.py', source: code, nodeFlags: [] };
  const esm = /^\s*(import\s+[\w*{'"]|export\s)/m.test(code);
  if (language === 'javascript') return { file: esm ? 'main.mjs' : 'main.cjs', source: code, nodeFlags: [] };
  if (typescript === 'typescript') {
    const tsc = createRequire(import.meta.url)('typescript') as typeof import('typescript');
    const out = tsc.transpileModule(code, { compilerOptions: { target: tsc.ScriptTarget.ES2022, module: esm ? tsc.ModuleKind.ESNext : tsc.ModuleKind.CommonJS } });
    return { file: esm ? 'main.mjs' : 'main.cjs', source: out.outputText, nodeFlags: [] };
  }
  if (typescript === 'strip-types') return { file: esm ? 'main.mts' : 'main.cts', source: code, nodeFlags: ['--experimental-strip-types'] };
  throw new Error('code sandbox: cannot run TypeScript here: install the `typescript` package (npm i -D typescript) or use Node >= 22.6');
}

/** A run folder holding the program; `run` may be called on it many times (one per test case). The program never gets write access to it. */
export class SandboxDir {
  private constructor(readonly dir: string, private readonly language: CodeLanguage, private readonly file: string,
    private readonly nodeFlags: string[], private readonly plan: Plan) {}

  /**
   * Writes `code` and its runner into a fresh temp folder. Throws the sandbox's refusal when bubblewrap cannot
   * run and `options.unsafeWithoutBubblewrap` is not set.
   */
  static async create(language: CodeLanguage, code: string, options: SandboxOptions = {}): Promise<SandboxDir> {
    const plan = planFor(options);
    if (typeof plan === 'string') throw new Error(`code sandbox: ${plan}`);
    if (language === 'python' && !plan.python) throw new Error('code sandbox: python3 was not found (install python3 or score only JavaScript/TypeScript)');
    const { file, source, nodeFlags } = prepare(language, code, plan.info.typescript);
    const dir = await fs.mkdtemp(join(tmpdir(), 'thinkgrad-code-'));
    await fs.chmod(dir, 0o755); // readable by the unprivileged user; never writable by it
    await fs.writeFile(join(dir, file), source, { mode: 0o644 });
    if (language === 'python') await fs.writeFile(join(dir, 'runner.py'), PYTHON_RUNNER, { mode: 0o644 });
    else await fs.writeFile(join(dir, 'runner.cjs'), NODE_RUNNER, { mode: 0o644 });
    return new SandboxDir(dir, language, file, nodeFlags, plan);
  }

  /** Runs the program with the limits; never rejects for the program's own failures. */
  run(options: RunOptions): Promise<RunResult> {
    const mem = Math.max(16, Math.floor(options.memoryMb));
    const end = options.end ?? 'program';
    const at = this.plan.inside(this.dir);
    let command: string[];
    let addressSpaceMb: number;
    if (this.language === 'python') {
      command = [this.plan.python!.executable, '-I', '-B', join(at, 'runner.py'), join(at, this.file), end];
      addressSpaceMb = mem;
    } else {
      const perm = permissionFlag();
      // NOTE: Node 20 needs `dir/*` for the folder's files (and aborts when given both forms); Node 23 dropped
      // wildcards and takes a folder recursively. Only Node 20 is tested here.
      command = [process.execPath, '--no-warnings', `--max-old-space-size=${mem}`, ...this.nodeFlags,
        ...(perm ? [perm, `--allow-fs-read=${NODE_MAJOR < 23 ? `${at}/*` : at}`] : []), join(at, 'runner.cjs'), join(at, this.file), end];
      addressSpaceMb = mem + 1024; // V8 reserves address space beyond its heap; the heap flag is the real limit
    }
    const argv = this.plan.wrap(this.dir, command, { addressSpaceMb, cpuSeconds: Math.ceil(options.timeoutMs / 1000) + 1 });
    const maxOut = options.maxOutputBytes ?? 1 << 20;
    const marker = `thinkgrad-end-${randomBytes(16).toString('hex')}`;
    return new Promise((resolve) => {
      const child = spawn(argv[0], argv.slice(1), { cwd: this.dir, env: {}, detached: true, stdio: ['pipe', 'pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let outBytes = 0;
      let errBytes = 0;
      let timedOut = false;
      let outputLimited = false;
      let done = false;
      // Killing bwrap's process group ends its init (--die-with-parent), and with it the whole PID namespace.
      const kill = () => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          child.kill('SIGKILL');
        }
      };
      const timer = setTimeout(() => {
        timedOut = true;
        kill();
      }, options.timeoutMs);
      child.stdout!.on('data', (b: Buffer) => {
        outBytes += b.length;
        if (outBytes > maxOut) {
          outputLimited = true;
          kill();
        } else out.push(b);
      });
      child.stderr!.on('data', (b: Buffer) => {
        if ((errBytes += b.length) <= 65536) err.push(b);
      });
      for (const s of [child.stdin!, child.stdio[3]!]) s.on('error', () => {}); // the program may exit without reading
      (child.stdio[3] as NodeJS.WritableStream).end(marker);
      child.stdin!.end(options.input ?? '');
      const finish = (exitCode: number | null) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        for (const s of [child.stdout!, child.stderr!]) s.destroy();
        const stdout = Buffer.concat(out).toString('utf8');
        const tail = `\n${marker}\n`;
        const ranToEnd = stdout.endsWith(tail);
        resolve({ exitCode, stdout: ranToEnd ? stdout.slice(0, -tail.length) : stdout, stderr: Buffer.concat(err).toString('utf8'), timedOut, outputLimited, ranToEnd });
      };
      child.on('error', () => finish(null));
      child.on('exit', (code) => setTimeout(() => finish(code), PIPE_GRACE_MS).unref());
      child.on('close', (code) => finish(code));
    });
  }

  async dispose(): Promise<void> {
    await fs.rm(this.dir, { recursive: true, force: true });
  }
}
