// The backend of each device: the CPU backend always, the CUDA backend when the CUDA addon loads and sees a
// device (created on first use; otherwise the one error saying why).
import type { Backend, Device } from './backend.js';
import { cpuBackend } from './cpu.js';
import { createCudaBackend } from './cuda.js';

let cudaBackend: Backend | null = null;

export function getBackend(device: Device): Backend {
  if (device === 'cpu') return cpuBackend;
  if (device === 'cuda') return (cudaBackend ??= createCudaBackend());
  throw new TypeError(`thinkgrad: unknown device '${String(device)}' (expected 'cpu' or 'cuda')`);
}

/** The backends created so far in this process (cpu always; cuda once a tensor or call has used it). */
export function loadedBackends(): Backend[] {
  return cudaBackend ? [cpuBackend, cudaBackend] : [cpuBackend];
}

/**
 * Devices whose backend runs every primitive in this process. The cuda backend is not listed yet: it runs storage
 * and the GRPO kernels (see `cudaAvailable()` for whether it can run here).
 */
export function backends(): Device[] {
  return ['cpu'];
}
