// Checkpoints: resuming is bit-identical (weights, optimizer, scheduler and RNG state), a crash mid-save
// keeps the previous checkpoint, and corrupt or missing files are refused with clear errors.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tg from '../src/index.js';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tg-checkpoint-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** y = x W + b with a stateDict/loadStateDict like nn.Module's (loading copies values). */
class TinyLinear {
  weight: tg.Tensor;
  bias: tg.Tensor;
  constructor(init: 'random' | 'zeros') {
    this.weight = init === 'random' ? tg.randn([4, 3], { std: 0.5, requiresGrad: true }) : tg.zeros([4, 3], { requiresGrad: true });
    this.bias = tg.zeros([3], { requiresGrad: true });
  }
  parameters(): tg.Tensor[] {
    return [this.weight, this.bias];
  }
  forward(x: tg.Tensor): tg.Tensor {
    return tg.matmul(x, this.weight).add(this.bias);
  }
  stateDict(): Record<string, tg.Tensor> {
    return { 'linear.weight': this.weight, 'linear.bias': this.bias };
  }
  loadStateDict(sd: Record<string, tg.Tensor>): void {
    for (const [k, p] of Object.entries(this.stateDict())) {
      const v = sd[k];
      if (!v || v.shape.join() !== p.shape.join()) throw new Error(`TinyLinear.loadStateDict: bad '${k}'`);
      tg.noGrad(() => p.backend.copy(p, v));
    }
  }
  dispose(): void {
    this.weight.dispose();
    this.bias.dispose();
  }
}

interface Run {
  model: TinyLinear;
  optimizer: tg.AdamW;
  scheduler: tg.LRScheduler;
}

function newRun(init: 'random' | 'zeros'): Run {
  const model = new TinyLinear(init);
  const optimizer = new tg.AdamW(model.parameters(), { lr: 0.05, weightDecay: 0.1 });
  const scheduler = new tg.LRScheduler(optimizer, tg.cosineSchedule({ warmupSteps: 2, totalSteps: 6, minLrRatio: 0.1 }));
  return { model, optimizer, scheduler };
}

// One step on a freshly drawn batch: the data come from the global RNG, so resuming needs the RNG state.
function trainStep(run: Run): number {
  const loss = tg.tidy(() => {
    const x = tg.randn([8, 4]);
    const noise = tg.randn([8, 3], { std: 0.1 });
    const target = x.sum(1, true).add(noise);
    const l = run.model.forward(x).sub(target).square().mean();
    l.backward();
    return l.item();
  });
  tg.clipGradNorm(run.model.parameters(), 1.0);
  run.optimizer.step();
  run.optimizer.zeroGrad();
  run.scheduler.step();
  return loss;
}

const config = { model: 'tiny-linear', lr: 0.05, nested: { warmup: 2 } };

describe('checkpoints', () => {
  it('resumes bit-identically: 6 steps straight == 3 steps + save + fresh objects + load + 3 steps', () => {
    tg.manualSeed(123);
    const straight = newRun('random');
    const lossesA = Array.from({ length: 6 }, () => trainStep(straight));
    const rngA = tg.getRngState();

    tg.manualSeed(123);
    const first = newRun('random');
    const lossesB = Array.from({ length: 3 }, () => trainStep(first));
    const dir = path.join(tmp, 'resume', 'checkpoint-3');
    const bias = tg.tensor([1, 2, 3], [3]);
    tg.saveCheckpoint(dir, { ...first, step: 3, config, extra: { epoch: 0, best: NaN, ema: { bias } } });
    bias.dispose();
    expect(fs.readdirSync(dir).sort()).toEqual(['SHA256SUMS', 'extra.safetensors', 'model.safetensors', 'optimizer.json', 'optimizer.safetensors',
      'scheduler.json', 'trainer_state.json']);
    first.model.dispose();
    first.optimizer.dispose();

    tg.manualSeed(999); // a different RNG position, weights and optimizer state: all must come from the checkpoint
    const resumed = newRun('zeros');
    const info = tg.loadCheckpoint(dir, resumed);
    expect(info.step).toBe(3);
    expect(info.config).toEqual(config);
    const extra = info.extra as { epoch: number; best: number; ema: { bias: tg.Tensor } };
    expect(extra.epoch).toBe(0);
    expect(extra.best).toBeNaN();
    expect(Array.from(extra.ema.bias.data())).toEqual([1, 2, 3]);
    extra.ema.bias.dispose();
    expect(resumed.scheduler.lastStep).toBe(3);
    for (let i = 0; i < 3; i++) lossesB.push(trainStep(resumed));

    expect(lossesB).toEqual(lossesA);
    expect(Array.from(resumed.model.weight.data())).toEqual(Array.from(straight.model.weight.data()));
    expect(Array.from(resumed.model.bias.data())).toEqual(Array.from(straight.model.bias.data()));
    expect(resumed.optimizer.paramGroups[0].lr).toBe(straight.optimizer.paramGroups[0].lr);
    expect(tg.getRngState()).toEqual(rngA);
    for (const r of [straight, resumed]) {
      r.model.dispose();
      r.optimizer.dispose();
    }
  });

  it('a crash mid-save leaves the previous checkpoint intact and no temporary folder behind', () => {
    tg.manualSeed(7);
    const run = newRun('random');
    trainStep(run);
    const parent = path.join(tmp, 'crash');
    const dir = path.join(parent, 'ckpt');
    tg.saveCheckpoint(dir, { ...run, step: 1, config });
    const before = Object.fromEntries(fs.readdirSync(dir).map((f) => [f, fs.readFileSync(path.join(dir, f))]));

    trainStep(run);
    // The model's second tensor fails while model.safetensors is being written.
    const dead = tg.zeros([3]);
    dead.dispose();
    const broken = { stateDict: () => ({ 'linear.weight': run.model.weight, 'zz.dead': dead }) };
    expect(() => tg.saveCheckpoint(dir, { model: broken, optimizer: run.optimizer, step: 2, config })).toThrow(/disposed/);
    // The optimizer throws after the model file is complete.
    const failing = { stateDict: () => {
      throw new Error('simulated crash');
    }, loadStateDict: () => {} };
    expect(() => tg.saveCheckpoint(dir, { model: run.model, optimizer: failing, step: 2, config })).toThrow(/simulated crash/);

    expect(fs.readdirSync(parent)).toEqual(['ckpt']);
    for (const [f, bytes] of Object.entries(before)) expect(fs.readFileSync(path.join(dir, f)).equals(bytes), f).toBe(true);
    expect(tg.readCheckpointInfo(dir).step).toBe(1);

    // A complete save replaces the old checkpoint and leaves nothing else behind.
    tg.saveCheckpoint(dir, { ...run, step: 2, config });
    expect(tg.readCheckpointInfo(dir).step).toBe(2);
    expect(fs.readdirSync(parent)).toEqual(['ckpt']);
    run.model.dispose();
    run.optimizer.dispose();
  });

  it('recovers the set-aside copy when a save died between its two renames', () => {
    tg.manualSeed(8);
    const run = newRun('random');
    const dir = path.join(tmp, 'aside', 'ckpt');
    tg.saveCheckpoint(dir, { ...run, step: 4, config });
    fs.renameSync(dir, path.join(tmp, 'aside', '.ckpt.old-12345-abcd'));
    const fresh = newRun('zeros');
    const info = tg.loadCheckpoint(dir, fresh);
    expect(info.step).toBe(4);
    expect(info.dir).toContain('.ckpt.old-');
    expect(Array.from(fresh.model.weight.data())).toEqual(Array.from(run.model.weight.data()));
    for (const r of [run, fresh]) {
      r.model.dispose();
      r.optimizer.dispose();
    }
  });

  it('covers trainer_state.json by SHA256SUMS: an edited step or config is refused', () => {
    tg.manualSeed(10);
    const run = newRun('random');
    const dir = path.join(tmp, 'tampered');
    tg.saveCheckpoint(dir, { ...run, step: 3, config });
    const sums = fs.readFileSync(path.join(dir, 'SHA256SUMS'), 'utf8');
    expect(sums).toMatch(/^[0-9a-f]{64} {2}trainer_state.json$/m);
    expect(sums).toMatch(/^[0-9a-f]{64} {2}model.safetensors$/m);
    const stateFile = path.join(dir, 'trainer_state.json');
    const state = fs.readFileSync(stateFile, 'utf8');
    fs.writeFileSync(stateFile, state.replace('"step": 3', '"step": 30'));
    const target = newRun('zeros');
    expect(() => tg.loadCheckpoint(dir, target)).toThrow(/trainer_state.json is corrupt: sha256 does not match SHA256SUMS/);
    expect(() => tg.readCheckpointInfo(dir)).toThrow(/sha256 does not match/);
    expect(Array.from(target.model.weight.data()).every((v) => v === 0)).toBe(true);
    fs.writeFileSync(stateFile, state);
    fs.rmSync(path.join(dir, 'SHA256SUMS'));
    expect(() => tg.loadCheckpoint(dir, target)).toThrow(/is not a complete checkpoint \(SHA256SUMS is missing/);
    for (const r of [run, target]) {
      r.model.dispose();
      r.optimizer.dispose();
    }
  });

  it('removes what interrupted saves left behind after the next successful save, keeping a sole set-aside copy', () => {
    tg.manualSeed(11);
    const run = newRun('random');
    const parent = path.join(tmp, 'orphans');
    tg.saveCheckpoint(path.join(parent, 'checkpoint-1'), { ...run, step: 1, config });
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid!;
    // A save killed mid-write (its process is gone), a swap killed after its second rename, and one killed
    // between its renames (checkpoint-9 itself is missing, so the set-aside copy is the only one).
    fs.mkdirSync(path.join(parent, `.checkpoint-2.tmp-${deadPid}-0123abcd`));
    fs.writeFileSync(path.join(parent, `.checkpoint-2.tmp-${deadPid}-0123abcd`, 'model.safetensors'), 'partial');
    fs.cpSync(path.join(parent, 'checkpoint-1'), path.join(parent, `.checkpoint-1.old-${deadPid}-89abcdef`), { recursive: true });
    fs.cpSync(path.join(parent, 'checkpoint-1'), path.join(parent, `.checkpoint-9.old-${deadPid}-00000000`), { recursive: true });
    // A save in progress in another live process is left alone.
    fs.mkdirSync(path.join(parent, `.checkpoint-7.tmp-${process.ppid}-11111111`));
    tg.saveCheckpoint(path.join(parent, 'checkpoint-2'), { ...run, step: 2, config });
    expect(fs.readdirSync(parent).sort()).toEqual([`.checkpoint-7.tmp-${process.ppid}-11111111`, `.checkpoint-9.old-${deadPid}-00000000`, 'checkpoint-1', 'checkpoint-2']);
    expect(tg.readCheckpointInfo(path.join(parent, 'checkpoint-9')).step).toBe(1);
    run.model.dispose();
    run.optimizer.dispose();
  });

  it('latestCheckpoint finds the newest complete checkpoint, skipping interrupted and corrupt ones', () => {
    tg.manualSeed(12);
    const run = newRun('random');
    const out = path.join(tmp, 'latest');
    expect(tg.latestCheckpoint(out)).toBeNull();
    for (const step of [1, 2, 3, 10]) tg.saveCheckpoint(path.join(out, `checkpoint-${step}`), { ...run, step, config });
    fs.mkdirSync(path.join(out, 'checkpoint-11'));
    fs.writeFileSync(path.join(out, 'checkpoint-20'), 'not a folder');
    expect(tg.latestCheckpoint(out)).toBe(path.join(out, 'checkpoint-10'));
    const model = path.join(out, 'checkpoint-10', 'model.safetensors');
    const bytes = fs.readFileSync(model);
    bytes[bytes.length - 1] ^= 1;
    fs.writeFileSync(model, bytes);
    fs.rmSync(path.join(out, 'checkpoint-3', 'SHA256SUMS'));
    expect(tg.latestCheckpoint(out)).toBe(path.join(out, 'checkpoint-2'));
    expect(tg.latestCheckpoint(out, { verify: false })).toBe(path.join(out, 'checkpoint-10'));
    expect(() => tg.latestCheckpoint('' as string)).toThrow(TypeError);
    expect(() => tg.latestCheckpoint(3 as unknown as string)).toThrow(/latestCheckpoint: outputDir must be a non-empty string/);
    run.model.dispose();
    run.optimizer.dispose();
  });

  it('refuses corrupt, truncated and missing files with clear errors, before touching the model', () => {
    tg.manualSeed(9);
    const run = newRun('random');
    trainStep(run);
    const dir = path.join(tmp, 'corrupt');
    const save = () => tg.saveCheckpoint(dir, { ...run, step: 1, config });
    const target = newRun('zeros');
    const load = () => tg.loadCheckpoint(dir, target);

    save();
    const modelFile = path.join(dir, 'model.safetensors');
    const bytes = fs.readFileSync(modelFile);
    bytes[bytes.length - 1] ^= 0x40;
    fs.writeFileSync(modelFile, bytes);
    expect(load).toThrow(/model.safetensors is corrupt: sha256 does not match/);
    expect(Array.from(target.model.weight.data()).every((v) => v === 0)).toBe(true);

    fs.writeFileSync(modelFile, bytes.subarray(0, bytes.length - 4));
    expect(load).toThrow(/model.safetensors is corrupt: \d+ bytes, expected \d+/);
    // Without verification the safetensors reader itself still refuses the truncated file.
    expect(() => tg.loadCheckpoint(dir, { ...target, verify: false })).toThrow(/outside the .*data section/);

    save();
    fs.rmSync(path.join(dir, 'optimizer.json'));
    expect(load).toThrow(/optimizer.json is missing/);

    save();
    fs.writeFileSync(path.join(dir, 'trainer_state.json'), '{"format": "thinkgrad-checkpoint", ');
    expect(load).toThrow(/trainer_state.json is corrupt/);
    fs.rmSync(path.join(dir, 'trainer_state.json'));
    expect(load).toThrow(/is not a complete checkpoint \(trainer_state.json is missing\)/);

    save();
    const model = { loadStateDict: (sd: Record<string, tg.Tensor>) => target.model.loadStateDict(sd) };
    expect(() => tg.loadCheckpoint(dir, { model, optimizer: target.optimizer, scheduler: target.scheduler })).not.toThrow();
    tg.saveCheckpoint(dir, { model: run.model, step: 1 });
    expect(() => tg.loadCheckpoint(dir, target)).toThrow(/an optimizer was given but .* holds no optimizer state/);
    expect(() => tg.loadCheckpoint(path.join(tmp, 'nothing-here'), target)).toThrow(/checkpoint folder .*nothing-here does not exist/);
    expect(() => tg.saveCheckpoint(dir, { model: run.model, step: -1 })).toThrow(/step must be an integer >= 0/);
    expect(() => tg.saveCheckpoint(dir, { model: run.model, step: 1, config: { t: run.model.bias } })).toThrow(/config must be plain JSON/);
    for (const r of [run, target]) {
      r.model.dispose();
      r.optimizer.dispose();
    }
  });
});
