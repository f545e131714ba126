// Command-line arguments of the config-driven commands: --config FILE, --resume [CHECKPOINT], and overrides of
// config fields by dotted path (`--trainer.learningRate 1e-4`), as TRL's argument parser allows beside a file.
import { ConfigError, type Json } from './commands/common.js';

export interface RunArgs {
  /** The JSON config file, or null when the config comes from overrides alone. */
  configFile: string | null;
  /** `--resume` alone: true (the newest complete checkpoint in the output folder); `--resume DIR`: that checkpoint. */
  resume: string | true | null;
  /** [dotted field path, value] in command-line order. */
  overrides: [string, unknown][];
  help: boolean;
}

const FIELD_PATH = /^[A-Za-z_$][\w$]*(\.([A-Za-z_$][\w$]*|\d+))*$/;

/** A value as JSON where it parses (numbers, true/false, null, arrays, objects), else the string itself. */
export function parseOverrideValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/**
 * Parses `thinkgrad <command>`'s arguments. A flag without a value (last, or followed by another `--flag`) is
 * true; `--flag=value` passes a value that starts with `--`.
 */
export function parseRunArgs(command: string, args: readonly string[]): RunArgs {
  const out: RunArgs = { configFile: null, resume: null, overrides: [], help: false };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--help' || arg === '-h') {
      out.help = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const inline = arg.startsWith('--') && eq > 0 ? arg.slice(eq + 1) : undefined;
    const next = args[i + 1];
    const takeValue = (): string | undefined => {
      if (inline !== undefined) return inline;
      if (next === undefined || next.startsWith('--')) return undefined;
      i++;
      return next;
    };
    if (flag === '--config' || flag === '-c') {
      const file = takeValue();
      if (file === undefined || file === '') throw new ConfigError('--config needs a file');
      out.configFile = file;
    } else if (flag === '--resume') {
      const dir = takeValue();
      if (dir === '') throw new ConfigError('--resume=DIR needs a checkpoint folder (or give --resume alone for the newest one)');
      out.resume = dir ?? true;
    } else if (flag.startsWith('--') && FIELD_PATH.test(flag.slice(2))) {
      const raw = takeValue();
      out.overrides.push([flag.slice(2), raw === undefined ? true : parseOverrideValue(raw)]);
    } else {
      throw new ConfigError(`unknown option ${arg} (thinkgrad ${command} takes --config FILE, --resume [CHECKPOINT] and --<field> VALUE overrides such as --trainer.learningRate 1e-4; see thinkgrad ${command} --help)`);
    }
  }
  return out;
}

/**
 * A copy of `config` with each override set at its dotted path (objects are created along the way; a number
 * indexes an array). The command then validates the result as it validates a file, so an unknown or
 * mistyped field is refused by name.
 */
export function applyOverrides(config: unknown, overrides: readonly [string, unknown][], source: string): Json {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) throw new ConfigError(`${source}: the config must be a JSON object`);
  const root = structuredClone(config) as Json;
  for (const [fieldPath, value] of overrides) {
    const keys = fieldPath.split('.');
    let node: unknown = root;
    keys.forEach((key, depth) => {
      const where = keys.slice(0, depth).join('.');
      if (node === null || typeof node !== 'object') {
        throw new ConfigError(`--${fieldPath}: field '${where}' of ${source} is ${JSON.stringify(node)}, not an object`);
      }
      const container = node as Record<string, unknown>;
      if (Array.isArray(node)) {
        if (!/^\d+$/.test(key) || Number(key) > node.length) throw new ConfigError(`--${fieldPath}: field '${where}' is an array of ${node.length}; '${key}' is not an index into it`);
      } else if (/^\d+$/.test(key)) {
        throw new ConfigError(`--${fieldPath}: field '${where}' is not an array; '${key}' cannot index it`);
      }
      if (depth === keys.length - 1) {
        container[key] = value;
      } else {
        if (container[key] === undefined) container[key] = /^\d+$/.test(keys[depth + 1]) ? [] : {};
        node = container[key];
      }
    });
  }
  return root;
}
