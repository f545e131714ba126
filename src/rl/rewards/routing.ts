// Per-sample reward routing for mixed GRPO (R1's last stage): each dataset row says which reward functions
// apply (e.g. a `task` column: reasoning rows get accuracy + format, general rows reward models + format).
// A function that does not apply to a row gives null (not scored), so it adds nothing to that row's reward
// and the per-function means (`rewards/<name>/mean`) average only the rows it scored.
import { checkArgs, named, type AnyRewardFunction, type RewardArgs, type RewardFunction } from './types.js';

export interface RouteRewardsOptions {
  /** The dataset column naming each row's route (default 'task'). A row may instead hold an array of reward names. */
  column?: string;
  /** Route name -> the reward functions that apply to its rows. A function may appear in several routes. */
  routes: Record<string, readonly AnyRewardFunction[]>;
  /** The route of rows whose column is missing or names no route; default: such a row is an error. */
  defaultRoute?: string;
}

/** The batch restricted to completions `idx`: every per-completion array column is subset, scalars kept. */
export function subsetArgs(args: RewardArgs, idx: readonly number[]): RewardArgs {
  const n = args.completions.length;
  const out: RewardArgs = { prompts: [], completions: [] };
  for (const [k, v] of Object.entries(args)) out[k] = Array.isArray(v) && v.length === n ? idx.map((i) => v[i]) : v;
  return out;
}

/**
 * Wraps `fn` so it runs only on the completions where `applies(i)` holds and gives null elsewhere; it keeps
 * fn's name. The wrapped function is called once per batch with the applicable subset (never when empty).
 */
export function onlyWhere(fn: AnyRewardFunction, applies: (args: RewardArgs, i: number) => boolean): RewardFunction {
  return named(fn.name, async (args: RewardArgs) => {
    const n = checkArgs(fn.name, args).length;
    const idx: number[] = [];
    for (let i = 0; i < n; i++) if (applies(args, i)) idx.push(i);
    const out = new Array<number | null>(n).fill(null);
    if (idx.length === 0) return out;
    const values = await (fn as RewardFunction)(idx.length === n ? args : subsetArgs(args, idx));
    if (!Array.isArray(values) || values.length !== idx.length) {
      throw new TypeError(`reward '${fn.name}' returned ${Array.isArray(values) ? values.length : typeof values} values for ${idx.length} completions`);
    }
    idx.forEach((i, k) => { out[i] = values[k]; });
    return out;
  });
}

/**
 * One reward function per distinct function in `routes` (in first-seen order), each scoring only the rows
 * whose route lists it and giving null elsewhere. Pass the result to GRPOTrainer as its rewardFuncs (with
 * rewardWeights in the same order). A row's column value is a route name, or an array of reward names.
 */
export function routeRewards(options: RouteRewardsOptions): RewardFunction[] {
  const column = options.column ?? 'task';
  const routes = options.routes;
  if (!routes || typeof routes !== 'object' || Object.keys(routes).length === 0) throw new RangeError('routeRewards: routes must map route names to reward functions');
  if (options.defaultRoute !== undefined && !(options.defaultRoute in routes)) throw new RangeError(`routeRewards: defaultRoute '${options.defaultRoute}' is not a route (${Object.keys(routes).join(', ')})`);
  const funcs: AnyRewardFunction[] = [];
  for (const [route, list] of Object.entries(routes)) {
    if (!Array.isArray(list) || list.some((f) => typeof f !== 'function')) throw new TypeError(`routeRewards: route '${route}' must be an array of reward functions`);
    for (const f of list) if (!funcs.includes(f)) funcs.push(f);
  }
  const names = funcs.map((f) => f.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw new RangeError(`routeRewards: two different reward functions are named '${dup}'; give them distinct names (their logs would collide)`);
  const routeOf = (args: RewardArgs, i: number): readonly string[] => {
    const col = args[column];
    const v = Array.isArray(col) ? col[i] : col;
    if (Array.isArray(v)) {
      for (const name of v) if (!names.includes(name as string)) throw new RangeError(`routeRewards: row ${i} lists reward '${String(name)}', which is not in any route (${names.join(', ')})`);
      return v as string[];
    }
    const route = typeof v === 'string' && v in routes ? v : options.defaultRoute;
    if (route === undefined) {
      throw new RangeError(`routeRewards: completion ${i} has ${column} = ${JSON.stringify(v)}, which names no route (routes: ${Object.keys(routes).join(', ')}); ` +
        'add the route or set defaultRoute');
    }
    return routes[route].map((f) => f.name);
  };
  return funcs.map((f) => onlyWhere(f, (args, i) => routeOf(args, i).includes(f.name)));
}
