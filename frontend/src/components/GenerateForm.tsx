import { useEffect, useId, useRef, useState, type DragEvent, type FormEvent } from "react";
import { ApiError, NetworkError, type Api, type ImageContentType, type JobRequest, type ModelSummary } from "../api/client";
import { SessionExpired } from "../auth";
import { ADAPTER_SCALE_MAX, ADAPTER_SCALE_MIN, SIZE_PRESETS, SEED_MAX, toRequest, type FormValues } from "../form";
import { checkImageFile, IMAGE_TYPES, postToPresignedUrl, UPLOAD_MAX_BYTES, formatBytes } from "../upload";

interface Props {
  api: Api;
  values: FormValues;
  onChange: (values: FormValues) => void;
  onSubmitted: (jobId: string, request: JobRequest) => void;
  onSessionExpired: () => void;
  /** My trained models (null while loading or when they could not be listed). */
  models: ModelSummary[] | null;
}

/** API field name -> the form control it belongs to. */
const FIELD_CONTROLS: Record<string, string> = {
  prompt: "prompt",
  negative_prompt: "negative-prompt",
  width: "width",
  height: "height",
  steps: "steps",
  guidance_scale: "guidance",
  seed: "seed",
  num_images: "num-images",
  strength: "strength",
  input_key: "input-image",
  content_type: "input-image",
  adapter_id: "adapter",
  adapter_scale: "adapter-scale",
};

export function GenerateForm({ api, values, onChange, onSubmitted, onSessionExpired, models }: Props) {
  const id = useId();
  const [file, setFile] = useState<File | null>(null);
  const [preview, setPreview] = useState<string | null>(null);
  const [uploadProgress, setUploadProgress] = useState<number | null>(null);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [dragging, setDragging] = useState(false);
  const fileInput = useRef<HTMLInputElement>(null);

  useEffect(() => {
    if (!file) {
      setPreview(null);
      return;
    }
    const url = URL.createObjectURL(file);
    setPreview(url);
    return () => URL.revokeObjectURL(url);
  }, [file]);

  const control = (name: string) => `${id}-${name}`;
  const set = (patch: Partial<FormValues>) => onChange({ ...values, ...patch });
  const errorFor = (name: string) => fieldErrors[name];
  const described = (name: string, hint?: boolean) =>
    [hint ? `${control(name)}-hint` : "", errorFor(name) ? `${control(name)}-error` : ""].filter(Boolean).join(" ") || undefined;

  const chooseFile = (chosen: File | null | undefined) => {
    setUploadProgress(null);
    const { ["input-image"]: _dropped, ...rest } = fieldErrors;
    if (!chosen) {
      setFile(null);
      setFieldErrors(rest);
      return;
    }
    const problem = checkImageFile(chosen);
    if (problem) {
      setFile(null);
      setFieldErrors({ ...rest, "input-image": problem });
      if (fileInput.current) fileInput.current.value = "";
      return;
    }
    setFile(chosen);
    setFieldErrors(rest);
  };

  const onDrop = (event: DragEvent<HTMLDivElement>) => {
    event.preventDefault();
    setDragging(false);
    chooseFile(event.dataTransfer.files[0]);
  };

  const showError = (error: unknown) => {
    if (error instanceof SessionExpired) {
      onSessionExpired();
      setFormError("Your session has expired: sign in again, then press Generate (your settings are kept).");
      return;
    }
    if (error instanceof ApiError) {
      const errors: Record<string, string> = {};
      const problems = error.details.length ? error.details : [{ field: error.field, message: error.message }];
      for (const problem of problems) {
        const name = problem.field ? FIELD_CONTROLS[problem.field] : undefined;
        if (name && !errors[name]) errors[name] = problem.message;
      }
      setFieldErrors(errors);
      if (error.status === 429) {
        const wait = error.retryAfterSeconds;
        setFormError(`${error.message} Try again ${wait != null ? `in ${wait} s` : "later"}.`);
      } else if (!Object.keys(errors).length) {
        setFormError(error.message);
      }
      const first = Object.keys(errors)[0];
      if (first) document.getElementById(control(first))?.focus();
      return;
    }
    if (error instanceof NetworkError) {
      setFormError("The connection to the server was lost. Nothing was sent twice: press Generate again when it is back.");
      return;
    }
    setFormError(error instanceof Error ? error.message : String(error));
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setFieldErrors({});
    setFormError(null);
    const scale = Number(values.adapterScale);
    if (values.adapterId && (values.adapterScale.trim() === "" || !(scale >= ADAPTER_SCALE_MIN && scale <= ADAPTER_SCALE_MAX))) {
      setFieldErrors({ "adapter-scale": `Model strength: from ${ADAPTER_SCALE_MIN} to ${ADAPTER_SCALE_MAX} (got “${values.adapterScale}”).` });
      document.getElementById(control("adapter-scale"))?.focus();
      return;
    }
    setBusy(true);
    try {
      let inputKey: string | null = null;
      if (file) {
        const ticket = await api.createUpload(file.type as ImageContentType);
        if (file.size > ticket.max_bytes) {
          throw new Error(`Input image: must be at most ${formatBytes(ticket.max_bytes)} (got ${formatBytes(file.size)}).`);
        }
        setUploadProgress(0);
        await postToPresignedUrl(ticket, file, setUploadProgress);
        inputKey = ticket.key;
      }
      const request = toRequest(values, inputKey);
      const accepted = await api.createJob(request, crypto.randomUUID());
      onSubmitted(accepted.job_id, request);
    } catch (error) {
      showError(error);
    } finally {
      setBusy(false);
    }
  };

  const fieldError = (name: string) =>
    errorFor(name) ? (
      <p id={`${control(name)}-error`} className="field-error" data-field={name}>
        {errorFor(name)}
      </p>
    ) : null;

  const custom = values.sizePreset === "custom";
  return (
    <section className="panel" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>Generate</h2>
      <form onSubmit={submit} aria-label="Generate images">
        <label htmlFor={control("prompt")}>Prompt</label>
        <textarea
          id={control("prompt")} name="prompt" required maxLength={2000} rows={3}
          aria-invalid={!!errorFor("prompt")} aria-describedby={described("prompt")}
          value={values.prompt} onChange={(e) => set({ prompt: e.target.value })}
        />
        {fieldError("prompt")}

        <label htmlFor={control("negative-prompt")}>Negative prompt (optional)</label>
        <textarea
          id={control("negative-prompt")} name="negative_prompt" maxLength={2000} rows={2}
          aria-invalid={!!errorFor("negative-prompt")} aria-describedby={described("negative-prompt")}
          value={values.negativePrompt} onChange={(e) => set({ negativePrompt: e.target.value })}
        />
        {fieldError("negative-prompt")}

        <fieldset>
          <legend>Size</legend>
          <label htmlFor={control("size")}>Size preset</label>
          <select
            id={control("size")} name="size" value={values.sizePreset}
            onChange={(e) => {
              const preset = SIZE_PRESETS.find((p) => p.id === e.target.value);
              set(preset ? { sizePreset: preset.id, width: String(preset.width), height: String(preset.height) } : { sizePreset: "custom" });
            }}
          >
            {SIZE_PRESETS.map((preset) => (
              <option key={preset.id} value={preset.id}>{preset.label}</option>
            ))}
            <option value="custom">Custom size</option>
          </select>
          <div className="row">
            <div>
              <label htmlFor={control("width")}>Width (px)</label>
              <input
                id={control("width")} name="width" type="number" min={64} max={1024} step={8} required readOnly={!custom}
                aria-invalid={!!errorFor("width")} aria-describedby={described("width", true)}
                value={values.width} onChange={(e) => set({ width: e.target.value })}
              />
            </div>
            <div>
              <label htmlFor={control("height")}>Height (px)</label>
              <input
                id={control("height")} name="height" type="number" min={64} max={1024} step={8} required readOnly={!custom}
                aria-invalid={!!errorFor("height")} aria-describedby={described("height", true)}
                value={values.height} onChange={(e) => set({ height: e.target.value })}
              />
            </div>
          </div>
          <p id={`${control("width")}-hint`} className="hint">
            <span id={`${control("height")}-hint`}>Multiples of 8 from 64 to 1024; choose “Custom size” to type them.</span>
          </p>
          {fieldError("width")}
          {fieldError("height")}
        </fieldset>

        <div className="row">
          <div>
            <label htmlFor={control("steps")}>Steps</label>
            <input
              id={control("steps")} name="steps" type="number" min={1} max={100} step={1} required
              aria-invalid={!!errorFor("steps")} aria-describedby={described("steps")}
              value={values.steps} onChange={(e) => set({ steps: e.target.value })}
            />
            {fieldError("steps")}
          </div>
          <div>
            <label htmlFor={control("guidance")}>Guidance</label>
            <input
              id={control("guidance")} name="guidance_scale" type="number" min={0} max={30} step={0.1} required
              aria-invalid={!!errorFor("guidance")} aria-describedby={described("guidance")}
              value={values.guidanceScale} onChange={(e) => set({ guidanceScale: e.target.value })}
            />
            {fieldError("guidance")}
          </div>
          <div>
            <label htmlFor={control("num-images")}>Images</label>
            <input
              id={control("num-images")} name="num_images" type="number" min={1} max={8} step={1} required
              aria-invalid={!!errorFor("num-images")} aria-describedby={described("num-images")}
              value={values.numImages} onChange={(e) => set({ numImages: e.target.value })}
            />
            {fieldError("num-images")}
          </div>
          <div>
            <label htmlFor={control("seed")}>Seed</label>
            <input
              id={control("seed")} name="seed" type="number" min={0} max={SEED_MAX} step={1} placeholder="random"
              aria-invalid={!!errorFor("seed")} aria-describedby={described("seed", true)}
              value={values.seed} onChange={(e) => set({ seed: e.target.value })}
            />
            <p id={`${control("seed")}-hint`} className="hint">Empty: a random seed, shown with the job.</p>
            {fieldError("seed")}
          </div>
        </div>

        <fieldset>
          <legend>Model</legend>
          <label htmlFor={control("adapter")}>Trained model</label>
          <select
            id={control("adapter")} name="adapter_id" value={values.adapterId}
            aria-invalid={!!errorFor("adapter")} aria-describedby={described("adapter", true)}
            onChange={(e) => set({ adapterId: e.target.value })}
          >
            <option value="">None (the base model)</option>
            {models?.map((model) => (
              <option key={model.adapter_id} value={model.adapter_id}>
                {model.instance_prompt ? `${model.instance_prompt} (${model.adapter_id})` : model.adapter_id}
              </option>
            ))}
            {values.adapterId && models && !models.some((model) => model.adapter_id === values.adapterId) && (
              <option value={values.adapterId}>{values.adapterId} (not among your models)</option>
            )}
          </select>
          <p id={`${control("adapter")}-hint`} className="hint">
            {models?.length ? "Put the model's trigger phrase in the prompt." : "Models you train on the Models page appear here."}
          </p>
          {fieldError("adapter")}
          {values.adapterId && (
            <>
              <label htmlFor={control("adapter-scale")}>Model strength ({ADAPTER_SCALE_MIN} to {ADAPTER_SCALE_MAX})</label>
              <input
                id={control("adapter-scale")} name="adapter_scale" type="number" min={ADAPTER_SCALE_MIN} max={ADAPTER_SCALE_MAX} step={0.05} required
                aria-invalid={!!errorFor("adapter-scale")} aria-describedby={described("adapter-scale")}
                value={values.adapterScale} onChange={(e) => set({ adapterScale: e.target.value })}
              />
              {fieldError("adapter-scale")}
            </>
          )}
        </fieldset>

        <fieldset>
          <legend>Input image (optional, for image to image)</legend>
          <div
            className={`dropzone${dragging ? " dragging" : ""}`}
            data-testid="dropzone"
            onDragOver={(e) => { e.preventDefault(); setDragging(true); }}
            onDragLeave={() => setDragging(false)}
            onDrop={onDrop}
          >
            <p>Drop a PNG, JPEG or WebP image here (at most {formatBytes(UPLOAD_MAX_BYTES)}), or choose one:</p>
            <label htmlFor={control("input-image")}>Input image file</label>
            <input
              ref={fileInput} id={control("input-image")} name="input_image" type="file" accept={IMAGE_TYPES.join(",")}
              aria-invalid={!!errorFor("input-image")} aria-describedby={described("input-image")}
              onChange={(e) => chooseFile(e.target.files?.[0])}
            />
          </div>
          {fieldError("input-image")}
          {file && preview && (
            <div className="preview">
              <img src={preview} alt={`Input image preview: ${file.name}`} />
              <div>
                <p>{file.name} ({formatBytes(file.size)})</p>
                <button type="button" className="secondary" onClick={() => { chooseFile(null); if (fileInput.current) fileInput.current.value = ""; }}>
                  Remove image
                </button>
              </div>
            </div>
          )}
          {file && (
            <>
              <label htmlFor={control("strength")}>Strength (0 keeps the input, 1 ignores it)</label>
              <input
                id={control("strength")} name="strength" type="number" min={0} max={1} step={0.05} required
                aria-invalid={!!errorFor("strength")} aria-describedby={described("strength")}
                value={values.strength} onChange={(e) => set({ strength: e.target.value })}
              />
              {fieldError("strength")}
            </>
          )}
          {uploadProgress !== null && (
            <div className="upload-progress">
              <label htmlFor={control("upload")}>Upload</label>
              <progress id={control("upload")} max={1} value={uploadProgress} data-testid="upload-progress" />
              <span>{Math.round(uploadProgress * 100)}%</span>
            </div>
          )}
        </fieldset>

        {formError && <p className="form-error" role="alert">{formError}</p>}
        <div className="actions">
          <button type="submit" disabled={busy}>{busy ? "Sending…" : "Generate"}</button>
        </div>
      </form>
    </section>
  );
}
