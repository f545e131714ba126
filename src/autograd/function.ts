// The single autograd abstraction: an op computes its output without recording, then `record` attaches
// a Node whose backward maps the output's gradient to its inputs' gradients.
import type { Tensor } from '../tensor.js';
import { isGradEnabled } from './grad-mode.js';
import { type BackwardFn, Node } from './node.js';

/**
 * Attaches the backward rule of op `name` to `output` when gradients are on and some input needs them.
 * `saved` lists the tensors (besides `inputs`) that `backward` reads, so tidy keeps them alive.
 * `backward` receives the output's gradient and returns one gradient (or null) per input, each with that
 * input's shape; it runs with gradient recording off.
 */
export function record(name: string, inputs: Tensor[], output: Tensor, backward: BackwardFn, saved: Tensor[] = []): Tensor {
  if (!isGradEnabled()) return output;
  let needed = false;
  for (const t of inputs) if (t.requiresGrad) needed = true;
  if (!needed) return output;
  output.requiresGrad = true;
  output.gradFn = new Node(name, inputs, backward, saved);
  return output;
}
