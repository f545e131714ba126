// The single autograd abstraction: an op computes its output without recording, then `record` attaches
// a Node whose backward maps the output's gradient to its inputs' gradients.
import type { Tensor } from '../tensor.js';
import { isGradEnabled, noGrad } from './grad-mode.js';
import { type BackwardFn, Node } from './node.js';

// Set while a checkpointed function's forward runs (recording off): told what each op would have recorded.
let tracer: ((tensors: readonly Tensor[]) => void) | null = null;

/**
 * Attaches the backward rule of op `name` to `output` when gradients are on and some input needs them.
 * `saved` lists the tensors (besides `inputs`) that `backward` reads, so tidy keeps them alive.
 * `backward` receives the output's gradient and returns one gradient (or null) per input, each with that
 * input's shape; it runs with gradient recording off.
 */
export function record(name: string, inputs: Tensor[], output: Tensor, backward: BackwardFn, saved: Tensor[] = []): Tensor {
  if (!isGradEnabled()) {
    if (tracer) {
      tracer(inputs);
      tracer(saved);
    }
    return output;
  }
  let needed = false;
  for (const t of inputs) if (t.requiresGrad) needed = true;
  if (!needed) return output;
  output.requiresGrad = true;
  output.gradFn = new Node(name, inputs, backward, saved);
  return output;
}

/**
 * @internal Runs `fn` with recording off, passing `onRecord` the inputs and saved tensors of every op that `fn`
 * runs: the tensors its graph would have held, so a checkpoint learns what fn reads (parameters included).
 */
export function traceRecords<T>(fn: () => T, onRecord: (tensors: readonly Tensor[]) => void): T {
  const previous = tracer;
  tracer = onRecord;
  try {
    return noGrad(fn);
  } finally {
    tracer = previous;
  }
}
