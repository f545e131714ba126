// Memory accounting: live tensor objects and each device allocator's bytes (through its backend; the CPU's also at
// the top level), and the CPU engine's thread count.
import type { Device } from './backend/backend.js';
import { cpuThreads, setCpuThreads } from './backend/cpu.js';
import { loadedBackends } from './backend/registry.js';
import { tensorCount } from './tensor.js';

/** One device allocator's counters. */
export interface DeviceMemoryInfo {
  /** Buffers alive (shared by views). */
  numBuffers: number;
  /** Bytes held by live buffers. */
  numBytes: number;
  /** Bytes of freed blocks kept for reuse. */
  cachedBytes: number;
  /** Highest numBytes since the last resetPeakMemory(). */
  peakBytes: number;
}

/** Tensor objects alive, the CPU allocator's counters, and each device's under `devices`. */
export interface MemoryInfo extends DeviceMemoryInfo {
  /** Tensor objects not yet disposed or collected (on every device). */
  numTensors: number;
  /** Per device in use in this process (cpu always; cuda once something has run there). */
  devices: Partial<Record<Device, DeviceMemoryInfo>>;
}

export function memory(): MemoryInfo {
  const devices: Partial<Record<Device, DeviceMemoryInfo>> = {};
  for (const b of loadedBackends()) {
    const s = b.memoryStats();
    devices[b.device] = { numBuffers: s.liveBuffers, numBytes: s.liveBytes, cachedBytes: s.cachedBytes, peakBytes: s.peakBytes };
  }
  return { numTensors: tensorCount(), ...devices.cpu!, devices };
}

/** Starts every device's peak count again from its live bytes. */
export function resetPeakMemory(): void {
  for (const b of loadedBackends()) b.resetPeakMemory();
}

/** Returns every device's cached blocks to the system. */
export function emptyCache(): void {
  for (const b of loadedBackends()) b.emptyCache();
}

/**
 * Waits for the queued work of `device` (every device in use when omitted), as `torch.cuda.synchronize`: kernels
 * run asynchronously on the GPU, so a timing or a host read of raw device memory waits here first. Reading a
 * tensor (`data()`, `item()`) already waits.
 */
export function synchronize(device?: Device): void {
  for (const b of loadedBackends()) if (device === undefined || b.device === device) b.synchronize();
}

/**
 * Threads the CPU kernels use (default: CPUs available, or THINKGRAD_NUM_THREADS), an integer in [1, 1024].
 * More threads than CPUs warns once per process.
 */
export function setNumThreads(n: number): void {
  setCpuThreads(n);
}

export function getNumThreads(): number {
  return cpuThreads();
}
