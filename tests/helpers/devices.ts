// The devices tensors can live on in this test file: cpu, and cuda on a real device when one is present, else on
// the CUDA emulator's build (cuda/emulator). Import this before anything loads the CUDA addon: the addon loaded
// first is the one the process keeps.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Device } from '../../src/backend/backend.js';
import { cudaAvailable } from '../../src/backend/cuda.js';

const emulated = resolve('cuda/emulator/build/Release/thinkgrad_cuda_emulated.node');

function pickCuda(): { available: boolean; reason: string; emulated: boolean } {
  if (process.env.THINKGRAD_CUDA_PATH === undefined && existsSync(emulated) && !realDevicePresent()) {
    process.env.THINKGRAD_CUDA_PATH = emulated;
    const s = cudaAvailable();
    delete process.env.THINKGRAD_CUDA_PATH;
    return { ...s, emulated: true };
  }
  return { ...cudaAvailable(), emulated: false };
}

// A real device shows as /dev/nvidia0 (Linux); elsewhere the emulator stands in.
function realDevicePresent(): boolean {
  return existsSync('/dev/nvidia0') && existsSync(resolve('build-cuda'));
}

export const cudaDevice = pickCuda();
if (!cudaDevice.available) console.log(`devices: cuda skipped: ${cudaDevice.reason}`);

/** cpu, and cuda (real or emulated) when it can run here. */
export const storageDevices: Device[] = cudaDevice.available ? ['cpu', 'cuda'] : ['cpu'];

/** Runs `body` once per device tensors can be stored on (the cuda backend runs storage; its ops come with §3). */
export function forEachDevice(body: (device: Device) => void): void {
  for (const device of storageDevices) body(device);
}
