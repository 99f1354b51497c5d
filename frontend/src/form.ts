import type { JobRequest, Schemas } from "./api/client";

export const SEED_MAX = 2 ** 32 - 1;

export interface SizePreset {
  id: string;
  label: string;
  width: number;
  height: number;
}

export const SIZE_PRESETS: SizePreset[] = [
  { id: "square", label: "Square 512 × 512", width: 512, height: 512 },
  { id: "landscape", label: "Landscape 768 × 512", width: 768, height: 512 },
  { id: "portrait", label: "Portrait 512 × 768", width: 512, height: 768 },
  { id: "large", label: "Large 1024 × 1024", width: 1024, height: 1024 },
];

/** What the Generate form holds (strings while typing; numbers once sent). */
export interface FormValues {
  prompt: string;
  negativePrompt: string;
  sizePreset: string; // a preset id or "custom"
  width: string;
  height: string;
  steps: string;
  guidanceScale: string;
  seed: string;
  numImages: string;
  strength: string;
  /** A trained model of mine (GET /models), or "" for the base model. */
  adapterId: string;
  adapterScale: string;
}

export const ADAPTER_SCALE_MIN = 0;
export const ADAPTER_SCALE_MAX = 2;

export const DEFAULT_FORM: FormValues = {
  prompt: "",
  negativePrompt: "",
  sizePreset: "square",
  width: "512",
  height: "512",
  steps: "30",
  guidanceScale: "7.5",
  seed: "",
  numImages: "1",
  strength: "0.8",
  adapterId: "",
  adapterScale: "1",
};

export function randomSeed(): number {
  const value = new Uint32Array(1);
  crypto.getRandomValues(value);
  return value[0] ?? 0;
}

/** The request the form describes; an empty seed becomes a random one (shown after). */
export function toRequest(values: FormValues, inputKey: string | null): JobRequest {
  const request: JobRequest = {
    kind: inputKey ? "img2img" : "txt2img",
    prompt: values.prompt,
    width: Number(values.width),
    height: Number(values.height),
    steps: Number(values.steps),
    guidance_scale: Number(values.guidanceScale),
    num_images: Number(values.numImages),
    seed: values.seed.trim() === "" ? randomSeed() : Number(values.seed),
  };
  if (values.negativePrompt.trim()) request.negative_prompt = values.negativePrompt;
  if (values.adapterId) {
    request.adapter_id = values.adapterId;
    request.adapter_scale = Number(values.adapterScale);
  }
  if (inputKey) {
    request.input_key = inputKey;
    request.strength = Number(values.strength);
  }
  return request;
}

/** The form filled from a job's parameters ("use these settings"). */
export function fromParams(params: Schemas["JobParams"], keepSeed: boolean): FormValues {
  const width = params.width ?? 512;
  const height = params.height ?? 512;
  const preset = SIZE_PRESETS.find((p) => p.width === width && p.height === height);
  return {
    prompt: params.prompt,
    negativePrompt: params.negative_prompt ?? "",
    sizePreset: preset ? preset.id : "custom",
    width: String(width),
    height: String(height),
    steps: String(params.steps ?? 30),
    guidanceScale: String(params.guidance_scale ?? 7.5),
    seed: keepSeed && params.seed != null ? String(params.seed) : "",
    numImages: String(params.num_images ?? 1),
    strength: String(params.strength ?? 0.8),
    adapterId: params.adapter_id ?? "",
    adapterScale: String(params.adapter_scale ?? 1),
  };
}

/** The request that repeats a job exactly (same parameters and seed, same input image). */
export function repeatRequest(kind: Schemas["JobKind"], params: Schemas["JobParams"]): JobRequest {
  const request: JobRequest = { kind, ...params };
  for (const key of Object.keys(request) as (keyof JobRequest)[]) {
    if (request[key] === null) delete request[key];
  }
  if (kind !== "img2img") {
    delete request.strength;
    delete request.input_key;
  }
  return request;
}

const DRAFT_KEY = "sdfleet.draft";

export function loadDraft(): FormValues {
  try {
    const saved = sessionStorage.getItem(DRAFT_KEY);
    return saved ? { ...DEFAULT_FORM, ...(JSON.parse(saved) as Partial<FormValues>) } : DEFAULT_FORM;
  } catch {
    return DEFAULT_FORM;
  }
}

export function saveDraft(values: FormValues): void {
  try {
    sessionStorage.setItem(DRAFT_KEY, JSON.stringify(values));
  } catch {
    // Storage full or disabled: the draft still lives in memory.
  }
}
