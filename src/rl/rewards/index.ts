// Rule-based rewards of the R1 recipe. Each export is a factory: `rewards.accuracy()` returns the reward
// function (named for TRL-style logging, `rewards/<name>/mean`) that the GRPO trainer calls on each batch.
export { type AnyRewardFunction, type RewardArgs, type RewardFunction, type TextRewardFunction } from './types.js';
export { accuracy, scoreAnswer, type AccuracyOptions } from './accuracy.js';
export { format, tagCount, hasR1Format, FORMAT_PATTERN, type FormatOptions, type TagCountOptions } from './format.js';
export { languageConsistency, scriptWords, chainOfThought, LANGUAGE_SCRIPTS, type LanguageConsistencyOptions } from './language.js';
export { cosineScaledLength, softOverlongPunishment, type CosineScaledLengthOptions, type SoftOverlongPunishmentOptions } from './length.js';
export { repetitionPenalty, repeatedNgramFraction, type RepetitionPenaltyOptions } from './repetition.js';
export { code, extractCode, type CodeOptions, type CodeTestCase } from './code.js';
export { sandboxInfo, type SandboxInfo, type SandboxOptions, type CodeLanguage } from './sandbox.js';
export { extractAnswer, referenceAnswer, normalizeAnswer, normalizeMath, latexToMath, cleanLatex, parseAnswer, parsedEqual, answersEqual, lastBoxed,
  canonicalAnswer, type ParsedAnswer, type AnswerUnit, type EquivalenceOptions } from './math-answer.js';
export { rewardModel, scoreWithRewardModel, rewardModelStats, answerPart, rewardModelInput, padRight, type RewardModelOptions } from './reward-model.js';
export { routeRewards, onlyWhere, subsetArgs, type RouteRewardsOptions } from './routing.js';
