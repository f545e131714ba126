// Scoped memory management: every tensor created inside `tidy(fn)` is freed when fn returns, except the
// tensors fn returns and everything their autograd graph needs for a later backward().
import type { Tensor } from '../tensor.js';

export class Scope {
  readonly tensors = new Set<Tensor>();
}

const scopes: Scope[] = [];

/** @internal Registers a new tensor with the innermost scope. */
export function track(t: Tensor): Scope | null {
  const scope = scopes.length > 0 ? scopes[scopes.length - 1] : null;
  scope?.tensors.add(t);
  return scope;
}

/** @internal Removes a tensor from whatever scope owns it (its owner is now an object, e.g. a parameter's .grad). */
export function untrack(t: Tensor): void {
  t.scope?.tensors.delete(t);
  t.scope = null;
}

/** Exempts `t` from the enclosing tidy scopes: the caller now owns it and disposes it. */
export function keep<T extends Tensor>(t: T): T {
  untrack(t);
  return t;
}

function collectTensors(value: unknown, out: Set<Tensor>, seen: Set<unknown>, isTensor: (v: unknown) => v is Tensor): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (isTensor(value)) {
    out.add(value);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collectTensors(v, out, seen, isTensor);
  } else if (value instanceof Map) {
    for (const v of value.values()) collectTensors(v, out, seen, isTensor);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value as Record<string, unknown>)) collectTensors(v, out, seen, isTensor);
  }
}

/** @internal The tensors in `value`: a tensor, or arrays/plain objects/Maps of them, at any depth. */
export function tensorsIn(value: unknown): Set<Tensor> {
  const out = new Set<Tensor>();
  collectTensors(value, out, new Set(), (v): v is Tensor => (v as Tensor)?.__isTensor === true);
  return out;
}

// Tensors that a backward() from `roots` would read: the roots, their graph's inputs and saved tensors.
function graphClosure(roots: Set<Tensor>): Set<Tensor> {
  const keepSet = new Set<Tensor>();
  const stack = [...roots];
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (keepSet.has(t)) continue;
    keepSet.add(t);
    const node = t.gradFn;
    if (node) for (const u of [...node.inputs, ...node.saved]) if (!keepSet.has(u)) stack.push(u);
  }
  return keepSet;
}

/**
 * Runs `fn` and disposes every tensor it created, except those in its result (a tensor, or arrays/plain
 * objects/Maps of them) and what their autograd graph needs. Kept tensors move to the enclosing scope.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Scope();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (err) {
    scopes.pop();
    release(scope, new Set());
    throw err;
  }
  scopes.pop();
  if (result instanceof Promise) {
    release(scope, new Set());
    throw new TypeError('tidy: fn must be synchronous; it returned a Promise (use tidy inside the async code instead)');
  }
  release(scope, graphClosure(tensorsIn(result)));
  return result;
}

function release(scope: Scope, keepSet: Set<Tensor>): void {
  const parent = scopes.length > 0 ? scopes[scopes.length - 1] : null;
  for (const t of scope.tensors) {
    if (keepSet.has(t)) {
      t.scope = parent;
      parent?.tensors.add(t);
    } else {
      t.scope = null;
      t.dispose();
    }
  }
  scope.tensors.clear();
}
