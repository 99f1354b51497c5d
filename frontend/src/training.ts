import type { TrainRequest } from "./api/client";
import { randomSeed, SEED_MAX } from "./form";

/** The contract's limits (sdfleet/training.py); the API checks them again. */
export const TRAIN_LIMITS = {
  imagesMin: 3,
  imagesMax: 50,
  stepsMin: 1,
  stepsMax: 5000,
  learningRateMax: 1e-2,
  rankMin: 1,
  rankMax: 128,
  resolutionMin: 64,
  resolutionMax: 1024,
  resolutionMultiple: 8,
  promptMaxChars: 2000,
} as const;

/** What the training form holds (strings while typing). */
export interface TrainFormValues {
  instancePrompt: string;
  steps: string;
  learningRate: string;
  rank: string;
  resolution: string;
  trainTextEncoder: boolean;
  seed: string;
}

export const DEFAULT_TRAIN_FORM: TrainFormValues = {
  instancePrompt: "",
  steps: "1000",
  learningRate: "0.0001",
  rank: "16",
  resolution: "512",
  trainTextEncoder: false,
  seed: "",
};

function integerIn(value: string, min: number, max: number): boolean {
  const number = Number(value);
  return value.trim() !== "" && Number.isInteger(number) && number >= min && number <= max;
}

/**
 * The form's problems before anything is uploaded, keyed by the API's field names, each
 * message naming the field and its limit (as the API's own messages do).
 */
export function checkTrainForm(values: TrainFormValues, imageCount: number): Record<string, string> {
  const L = TRAIN_LIMITS;
  const problems: Record<string, string> = {};
  if (imageCount < L.imagesMin || imageCount > L.imagesMax) {
    problems.instance_images = `Training images: choose ${L.imagesMin} to ${L.imagesMax} images (got ${imageCount}).`;
  }
  if (!values.instancePrompt.trim()) {
    problems.instance_prompt = "Trigger phrase: required (the words that call up your subject, e.g. “a photo of sks dog”).";
  } else if (values.instancePrompt.length > L.promptMaxChars) {
    problems.instance_prompt = `Trigger phrase: at most ${L.promptMaxChars} characters (got ${values.instancePrompt.length}).`;
  }
  if (!integerIn(values.steps, L.stepsMin, L.stepsMax)) {
    problems.steps = `Training steps: a whole number from ${L.stepsMin} to ${L.stepsMax} (got “${values.steps}”).`;
  }
  const rate = Number(values.learningRate);
  if (values.learningRate.trim() === "" || !Number.isFinite(rate) || rate <= 0 || rate > L.learningRateMax) {
    problems.learning_rate = `Learning rate: greater than 0 and at most ${L.learningRateMax} (got “${values.learningRate}”).`;
  }
  if (!integerIn(values.rank, L.rankMin, L.rankMax)) {
    problems.rank = `Rank: a whole number from ${L.rankMin} to ${L.rankMax} (got “${values.rank}”).`;
  }
  if (!integerIn(values.resolution, L.resolutionMin, L.resolutionMax) || Number(values.resolution) % L.resolutionMultiple !== 0) {
    problems.resolution = `Resolution: a multiple of ${L.resolutionMultiple} from ${L.resolutionMin} to ${L.resolutionMax} (got “${values.resolution}”).`;
  }
  if (values.seed.trim() !== "" && !integerIn(values.seed, 0, SEED_MAX)) {
    problems.seed = `Seed: a whole number from 0 to ${SEED_MAX}, or empty for a random one (got “${values.seed}”).`;
  }
  return problems;
}

/** The training the form describes; an empty seed becomes a random one (shown after). */
export function toTrainRequest(values: TrainFormValues, imageKeys: string[], captions: string[]): TrainRequest {
  const request: TrainRequest = {
    kind: "train",
    instance_images: imageKeys,
    instance_prompt: values.instancePrompt,
    steps: Number(values.steps),
    learning_rate: Number(values.learningRate),
    rank: Number(values.rank),
    resolution: Number(values.resolution),
    train_text_encoder: values.trainTextEncoder,
    seed: values.seed.trim() === "" ? randomSeed() : Number(values.seed),
  };
  if (captions.some((caption) => caption.trim() !== "")) request.captions = captions;
  return request;
}
