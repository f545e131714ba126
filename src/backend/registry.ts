// The backend of each device: the CPU backend always, the CUDA backend when the CUDA addon loads and sees a
// device (created on first use; otherwise the one error saying why).
import type { Backend, Device } from './backend.js';
import { cpuBackend } from './cpu.js';
import { createCudaBackend, cudaAvailable } from './cuda.js';

let cudaBackend: Backend | null = null;
let defaultDevice: Device = 'cpu';

/**
 * The device of tensors created without one (`tensor`, `zeros`, `randn`, ...), as `torch.set_default_device`:
 * 'cpu' unless set. Tensors made from other tensors (`zerosLike`, op results) stay on their inputs' device.
 */
export function setDefaultDevice(device: Device): void {
  getBackend(device);
  defaultDevice = device;
}

/** The device of tensors created without one. */
export function getDefaultDevice(): Device {
  return defaultDevice;
}

export function getBackend(device: Device): Backend {
  if (device === 'cpu') return cpuBackend;
  if (device === 'cuda') return (cudaBackend ??= createCudaBackend());
  throw new TypeError(`thinkgrad: unknown device '${String(device)}' (expected 'cpu' or 'cuda')`);
}

/** The backends created so far in this process (cpu always; cuda once a tensor or call has used it). */
export function loadedBackends(): Backend[] {
  return cudaBackend ? [cpuBackend, cudaBackend] : [cpuBackend];
}

/** A device option: 'auto' is cuda on a real GPU that can run here (never the CUDA emulator), else cpu. */
export function resolveDevice(device: 'auto' | Device): Device {
  if (device !== 'auto') return device;
  const cuda = cudaAvailable();
  return cuda.available && !cuda.device?.emulated ? 'cuda' : 'cpu';
}

/** Devices that can run here: cpu, and cuda where the CUDA addon loads and sees a device (`cudaAvailable()` says why not). */
export function backends(): Device[] {
  return cudaAvailable().available ? ['cpu', 'cuda'] : ['cpu'];
}
