// A recorded operation in the autograd graph: the inputs it differentiates, the tensors its backward
// closure reads (kept alive by tidy), and the backward rule itself.
import type { Tensor } from '../tensor.js';

/** Maps the gradient of an op's output to the gradients of its inputs (null where not needed). */
export type BackwardFn = (grad: Tensor) => (Tensor | null)[];

export class Node {
  constructor(
    readonly name: string,
    /** Inputs in the order `backward` returns their gradients. */
    public inputs: Tensor[],
    public backward: BackwardFn | null,
    /** Tensors the backward closure captured that are not inputs (e.g. saved statistics). */
    public saved: Tensor[],
  ) {}

  /** Drops references after backward so the saved tensors can be freed. */
  release(): void {
    this.inputs = [];
    this.saved = [];
    this.backward = null;
  }
}
