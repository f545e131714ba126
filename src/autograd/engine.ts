// Reverse-mode differentiation: an iterative topological sort of the recorded graph (no recursion
// limit), then each node's backward in reverse order, accumulating into leaf tensors' .grad (backward) or
// returning the gradients of chosen tensors (gradients, torch.autograd.grad's semantics).
import type { Tensor } from '../tensor.js';
import { formatShape } from '../tensor-util.js';
import { noGrad } from './grad-mode.js';
import { untrack } from './tidy.js';
import { add } from '../ops/elementwise.js';

// `stops` are treated as leaves: their gradient is wanted, not their graph's.
function topologicalOrder(root: Tensor, stops: ReadonlyMap<Tensor, number> | null): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  visited.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [t, next] = top;
    const inputs = stops?.has(t) ? [] : t.gradFn?.inputs ?? [];
    if (next < inputs.length) {
      top[1]++;
      const child = inputs[next];
      if (child.requiresGrad && !visited.has(child)) {
        visited.add(child);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order.reverse();
}

export interface BackwardOptions {
  /** Keep the graph so backward() can run through it again. */
  retainGraph?: boolean;
}

/**
 * Computes d(root)/d(leaf) for every leaf that requires grad and adds it to leaf.grad. `gradient` is
 * d(loss)/d(root) and defaults to 1 for a one-element root.
 */
export function backward(root: Tensor, gradient?: Tensor, options: BackwardOptions = {}): void {
  run('backward', root, gradient, options, null);
}

/**
 * @internal d(root)/d(t) for each t of `inputs` (null where root does not depend on it), as
 * torch.autograd.grad: the graph is not followed beyond them and no leaf's .grad changes; the caller owns the
 * returned tensors. `gradient` is d(loss)/d(root). Runs with recording off and frees the graph it walks.
 */
export function gradients(root: Tensor, gradient: Tensor, inputs: readonly Tensor[]): (Tensor | null)[] {
  const stops = new Map<Tensor, number>();
  inputs.forEach((t, i) => stops.set(t, i));
  const found: (Tensor | null)[] = inputs.map(() => null);
  run('gradients', root, gradient, {}, { stops, found });
  return found;
}

function run(op: string, root: Tensor, gradient: Tensor | undefined, options: BackwardOptions,
  wanted: { stops: Map<Tensor, number>; found: (Tensor | null)[] } | null): void {
  root.assertLive(op);
  if (!root.requiresGrad) throw new Error(`${op}: tensor does not require grad (no input of its graph has requiresGrad)`);
  if (!gradient && root.numel !== 1) {
    throw new RangeError(`${op}: a gradient argument is needed for a non-scalar output of shape ${formatShape(root.shape)}`);
  }
  if (gradient && gradient.shape.join() !== root.shape.join()) {
    throw new RangeError(`${op}: gradient shape ${formatShape(gradient.shape)} differs from output shape ${formatShape(root.shape)}`);
  }
  noGrad(() => {
    const order = topologicalOrder(root, wanted?.stops ?? null);
    const grads = new Map<Tensor, Tensor>();
    // Gradients created here are owned by this map and freed as soon as their consumer has run.
    // Gradients are float32 whatever the dtype of the tensors they belong to (bfloat16 ones included).
    const seed = !gradient ? root.newFull(root.shape, 1, 'float32')
      : gradient.dtype === 'float32' ? gradient.makeView(gradient.shape, gradient.strides, gradient.offset)
        : gradient.to('float32');
    grads.set(root, seed);
    for (const t of order) {
      const g = grads.get(t);
      if (!g) continue;
      grads.delete(t);
      const wantedAt = wanted?.stops.get(t);
      if (wantedAt !== undefined) {
        wanted!.found[wantedAt] = g;
        continue;
      }
      const node = t.gradFn;
      if (!node) {
        if (wanted) g.dispose();
        else accumulateLeaf(t, g);
        continue;
      }
      if (!node.backward) {
        throw new Error(`backward: the graph through ${node.name} was already freed by an earlier backward(); pass { retainGraph: true } to the first call`);
      }
      const inputGrads = node.backward(g);
      const protectedTensors = new Set<Tensor>([g, ...node.inputs, ...node.saved]);
      for (let i = 0; i < node.inputs.length; i++) {
        const input = node.inputs[i];
        let gi = inputGrads[i];
        if (!gi) continue;
        if (!input.requiresGrad) {
          if (!protectedTensors.has(gi)) gi.dispose();
          continue;
        }
        if (gi.shape.join() !== input.shape.join()) {
          throw new Error(`backward of ${node.name}: gradient shape ${formatShape(gi.shape)} != input shape ${formatShape(input.shape)}`);
        }
        if (protectedTensors.has(gi)) gi = gi.makeView(gi.shape, gi.strides, gi.offset);
        protectedTensors.add(gi);
        const previous = grads.get(input);
        if (previous) {
          grads.set(input, add(previous, gi));
          previous.dispose();
          gi.dispose();
        } else {
          grads.set(input, gi);
        }
      }
      g.dispose();
      if (!options.retainGraph) node.release();
    }
  });
}

function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  if (leaf.grad) {
    const sum = add(leaf.grad, g);
    leaf.grad.dispose();
    g.dispose();
    leaf.grad = sum;
  } else {
    leaf.grad = g.isContiguous() && g.offset === 0 && g.storage.numel === g.numel ? g : contiguousCopy(g);
  }
  untrack(leaf.grad);
}

function contiguousCopy(g: Tensor): Tensor {
  const c = g.contiguous();
  g.dispose();
  return c;
}
