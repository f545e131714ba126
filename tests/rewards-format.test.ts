// Format and tag-count rewards, including the ways models game them: repeated tags, empty blocks, tags out of
// order, text outside the tags, an <answer> inside <think>, extra whitespace.
import { describe, expect, it } from 'vitest';
import { rewards } from '../src/index.js';
import { additionSolution } from '../src/tasks/addition.js';

const { format, tagCount, FORMAT_PATTERN } = rewards;
const batch = (completions: string[]) => ({ prompts: completions.map(() => 'p'), completions });
const fmt = (c: string, options?: rewards.FormatOptions) => (format(options)(batch([c])) as (number | null)[])[0];
const tags = (c: string, options?: rewards.TagCountOptions) => (tagCount(options)(batch([c])) as (number | null)[])[0];

describe('rewards.format', () => {
  it('accepts the R1 format with or without newlines around the tags', () => {
    expect(fmt(additionSolution(988, 804))).toBe(1);
    expect(fmt('<think>\nlet me think\n</think>\n<answer>\n42\n</answer>')).toBe(1);
    expect(fmt('<think>a</think>\n<answer>b</answer>')).toBe(1);
    expect(fmt('<think>\n\n  several\n\nlines  \n\n</think><answer> 7 </answer>')).toBe(1); // extra whitespace inside the blocks
    expect(format().name).toBe('format');
  });

  it('rejects empty blocks (the answer always; the think block unless allowed)', () => {
    expect(fmt('<think>x</think><answer></answer>')).toBe(0);
    expect(fmt('<think>x</think><answer>\n \n</answer>')).toBe(0);
    expect(fmt('<think></think><answer>1</answer>')).toBe(0);
    expect(fmt('<think>\n</think><answer>1</answer>')).toBe(0);
    expect(fmt('<think></think><answer>1</answer>', { allowEmptyThink: true })).toBe(1);
  });

  it('rejects repeated tags, wrong order and nesting', () => {
    expect(fmt('<think>a</think><answer>1</answer><answer>2</answer>')).toBe(0);
    expect(fmt('<think>a</think><think>b</think><answer>1</answer>')).toBe(0);
    expect(fmt('<think><think>a</think><answer>1</answer>')).toBe(0);
    expect(fmt('<answer>1</answer><think>a</think>')).toBe(0);
    expect(fmt('<think>a<answer>1</answer></think><answer>1</answer>')).toBe(0); // <answer> inside <think>
    expect(fmt('<think>a<answer>1</think></answer>')).toBe(0);
    expect(fmt('<think>a</answer></think><answer>1</answer>')).toBe(0);
  });

  it('rejects text (even whitespace) outside the tags and more than one newline between blocks', () => {
    expect(fmt('Sure! <think>a</think><answer>1</answer>')).toBe(0);
    expect(fmt('<think>a</think><answer>1</answer> hope this helps')).toBe(0);
    expect(fmt('<think>a</think>so<answer>1</answer>')).toBe(0);
    expect(fmt(' <think>a</think><answer>1</answer>')).toBe(0);
    expect(fmt('<think>a</think><answer>1</answer>\n')).toBe(0);
    expect(fmt('<think>a</think>\n\n<answer>1</answer>')).toBe(0);
    expect(fmt('<think>a</think> <answer>1</answer>')).toBe(0);
    expect(fmt('<think>a</think>')).toBe(0);
    expect(fmt('<answer>1</answer>')).toBe(0);
    expect(fmt('')).toBe(0);
  });

  it('documents its exact regex', () => {
    expect(FORMAT_PATTERN.source).toBe('^<think>\\n?([\\s\\S]*?)\\n?<\\/think>\\n?<answer>\\n?([\\s\\S]*?)\\n?<\\/answer>$');
    expect(FORMAT_PATTERN.flags).toBe('');
  });
});

describe('rewards.tagCount', () => {
  it('gives 0.25 per tag present exactly once', () => {
    expect(tags('<think>a</think><answer>1</answer>')).toBe(1);
    expect(tags('<think>a</think> 1')).toBe(0.5);
    expect(tags('<think>a')).toBe(0.25);
    expect(tags('nothing')).toBe(0);
    expect(tags('<answer>1</answer><think>a</think>')).toBe(1); // order is format's job
  });

  it('repeating a tag earns nothing for that tag', () => {
    expect(tags('<think>a</think><think>b</think><answer>1</answer>')).toBe(0.5);
    expect(tags('<think>a</think><answer>1</answer>'.repeat(3))).toBe(0);
  });

  it('open-r1 mode counts the tags with their newlines', () => {
    expect(tags('<think>\na\n</think>\n<answer>\n1\n</answer>', { newlines: true })).toBe(1);
    expect(tags('<think>a</think><answer>1</answer>', { newlines: true })).toBe(0);
    expect(tags('<think>\na</think>\n<answer>\n1</answer>', { newlines: true })).toBe(0.5); // <think>\n and \n<answer>\n
  });
});
