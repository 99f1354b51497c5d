import { useEffect, useId, useRef, useState, type DragEvent, type FormEvent } from "react";
import { ApiError, NetworkError, type Api, type ImageContentType, type TrainRequest } from "../api/client";
import { SessionExpired } from "../auth";
import { SEED_MAX } from "../form";
import { checkTrainForm, TRAIN_LIMITS, toTrainRequest, type TrainFormValues } from "../training";
import { checkImageFile, formatBytes, IMAGE_TYPES, postToPresignedUrl, UPLOAD_MAX_BYTES } from "../upload";

interface Props {
  api: Api;
  values: TrainFormValues;
  onChange: (values: TrainFormValues) => void;
  onSubmitted: (jobId: string, request: TrainRequest) => void;
  onSessionExpired: () => void;
}

interface Chosen {
  id: string;
  file: File;
  preview: string;
  caption: string;
}

/** API field name (before any `.index`) -> the form control it belongs to. */
const FIELD_CONTROLS: Record<string, string> = {
  instance_images: "images",
  captions: "images",
  content_type: "images",
  instance_prompt: "instance-prompt",
  steps: "train-steps",
  learning_rate: "learning-rate",
  rank: "rank",
  resolution: "resolution",
  train_text_encoder: "text-encoder",
  seed: "train-seed",
};

export function TrainForm({ api, values, onChange, onSubmitted, onSessionExpired }: Props) {
  const id = useId();
  const [chosen, setChosen] = useState<Chosen[]>([]);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [uploading, setUploading] = useState<{ done: number; total: number; fraction: number } | null>(null);
  const [busy, setBusy] = useState(false);
  const [started, setStarted] = useState<string | null>(null);
  const [dragging, setDragging] = useState(false);
  const fileInput = useRef<HTMLInputElement>(null);
  // Keys of files already uploaded: a retry after an error does not send them again.
  const uploaded = useRef(new WeakMap<File, string>());
  const chosenRef = useRef(chosen);
  chosenRef.current = chosen;

  useEffect(() => () => chosenRef.current.forEach((item) => URL.revokeObjectURL(item.preview)), []);

  const control = (name: string) => `${id}-${name}`;
  const set = (patch: Partial<TrainFormValues>) => onChange({ ...values, ...patch });
  const errorFor = (name: string) => fieldErrors[name];
  const described = (name: string, hint?: boolean) =>
    [hint ? `${control(name)}-hint` : "", errorFor(name) ? `${control(name)}-error` : ""].filter(Boolean).join(" ") || undefined;

  const addFiles = (files: FileList | null | undefined) => {
    if (!files) return;
    const refused: string[] = [];
    const added: Chosen[] = [];
    for (const file of Array.from(files)) {
      const problem = checkImageFile(file, UPLOAD_MAX_BYTES, `Training image ${file.name}`);
      if (problem) refused.push(problem);
      else added.push({ id: crypto.randomUUID(), file, preview: URL.createObjectURL(file), caption: "" });
    }
    const room = TRAIN_LIMITS.imagesMax - chosen.length;
    added.slice(room).forEach((item) => URL.revokeObjectURL(item.preview));
    if (added.length > room) refused.push(`Training images: at most ${TRAIN_LIMITS.imagesMax}; ${added.length - room} not added.`);
    setChosen([...chosen, ...added.slice(0, Math.max(room, 0))]);
    const { images: _dropped, ...rest } = fieldErrors;
    setFieldErrors(refused.length ? { ...rest, images: refused.join(" ") } : rest);
    if (fileInput.current) fileInput.current.value = "";
  };

  const remove = (item: Chosen) => {
    URL.revokeObjectURL(item.preview);
    setChosen(chosen.filter((other) => other.id !== item.id));
  };

  const setCaption = (item: Chosen, caption: string) =>
    setChosen(chosen.map((other) => (other.id === item.id ? { ...other, caption } : other)));

  const onDrop = (event: DragEvent<HTMLDivElement>) => {
    event.preventDefault();
    setDragging(false);
    addFiles(event.dataTransfer.files);
  };

  const showFieldErrors = (errors: Record<string, string>) => {
    setFieldErrors(errors);
    const first = Object.keys(errors)[0];
    if (first) document.getElementById(control(first))?.focus();
  };

  const showError = (error: unknown) => {
    if (error instanceof SessionExpired) {
      onSessionExpired();
      setFormError("Your session has expired: sign in again, then press Start training (your choices are kept).");
      return;
    }
    if (error instanceof ApiError) {
      const errors: Record<string, string> = {};
      const problems = error.details.length ? error.details : [{ field: error.field, message: error.message }];
      for (const problem of problems) {
        const name = problem.field ? FIELD_CONTROLS[problem.field.split(".")[0] ?? ""] : undefined;
        if (name && !errors[name]) errors[name] = problem.message;
      }
      if (error.status === 429) {
        const wait = error.retryAfterSeconds;
        setFormError(`${error.message} Try again ${wait != null ? `in ${wait} s` : "later"}.`);
      } else if (!Object.keys(errors).length) {
        setFormError(error.message);
      }
      showFieldErrors(errors);
      return;
    }
    if (error instanceof NetworkError) {
      setFormError("The connection to the server was lost. Nothing was sent twice: press Start training again when it is back.");
      return;
    }
    setFormError(error instanceof Error ? error.message : String(error));
  };

  const uploadAll = async (): Promise<string[]> => {
    const keys: string[] = [];
    for (const [index, item] of chosen.entries()) {
      setUploading({ done: index, total: chosen.length, fraction: index / chosen.length });
      let key = uploaded.current.get(item.file);
      if (!key) {
        const ticket = await api.createUpload(item.file.type as ImageContentType);
        if (item.file.size > ticket.max_bytes) {
          throw new Error(`Training image ${item.file.name}: must be at most ${formatBytes(ticket.max_bytes)} (got ${formatBytes(item.file.size)}).`);
        }
        await postToPresignedUrl(ticket, item.file, (part) =>
          setUploading({ done: index, total: chosen.length, fraction: (index + part) / chosen.length }),
        );
        key = ticket.key;
        uploaded.current.set(item.file, key);
      }
      keys.push(key);
    }
    setUploading({ done: chosen.length, total: chosen.length, fraction: 1 });
    return keys;
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setFormError(null);
    setStarted(null);
    const problems = checkTrainForm(values, chosen.length);
    const errors: Record<string, string> = {};
    for (const [field, message] of Object.entries(problems)) errors[FIELD_CONTROLS[field] ?? field] = message;
    if (Object.keys(errors).length) {
      showFieldErrors(errors);
      return;
    }
    setFieldErrors({});
    setBusy(true);
    try {
      const keys = await uploadAll();
      const request = toTrainRequest(values, keys, chosen.map((item) => item.caption));
      const accepted = await api.createJob(request, crypto.randomUUID());
      onSubmitted(accepted.job_id, request);
      // Started: the next training begins with a fresh choice of images.
      chosen.forEach((item) => URL.revokeObjectURL(item.preview));
      setChosen([]);
      setUploading(null);
      setStarted(`Training started with ${keys.length} images: watch it below.`);
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

  const L = TRAIN_LIMITS;
  return (
    <section className="panel" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>Train a model</h2>
      <p className="hint">
        A LoRA adapter learns your subject from {L.imagesMin} to {L.imagesMax} of your images and the trigger phrase; use the
        phrase in a prompt with the model selected to draw it.
      </p>
      <form onSubmit={submit} aria-label="Train a model" noValidate>
        <fieldset>
          <legend>Training images ({L.imagesMin} to {L.imagesMax})</legend>
          <div
            className={`dropzone${dragging ? " dragging" : ""}`}
            data-testid="train-dropzone"
            onDragOver={(e) => { e.preventDefault(); setDragging(true); }}
            onDragLeave={() => setDragging(false)}
            onDrop={onDrop}
          >
            <p>Drop PNG, JPEG or WebP images here (each at most {formatBytes(UPLOAD_MAX_BYTES)}), or choose them:</p>
            <label htmlFor={control("images")}>Training image files</label>
            <input
              ref={fileInput} id={control("images")} name="instance_images" type="file" multiple accept={IMAGE_TYPES.join(",")}
              aria-invalid={!!errorFor("images")} aria-describedby={described("images", true)}
              onChange={(e) => addFiles(e.target.files)}
            />
          </div>
          <p id={`${control("images")}-hint`} className="hint" data-testid="train-image-count">
            {chosen.length} of {L.imagesMin}–{L.imagesMax} images chosen. A caption is optional; without one an image is
            trained with the trigger phrase.
          </p>
          {fieldError("images")}
          {chosen.length > 0 && (
            <ul className="train-images" data-testid="train-images">
              {chosen.map((item, index) => (
                <li key={item.id}>
                  <img src={item.preview} alt={`Training image ${index + 1}: ${item.file.name}`} />
                  <div>
                    <p>{item.file.name} ({formatBytes(item.file.size)})</p>
                    <label htmlFor={control(`caption-${item.id}`)}>Caption of image {index + 1} (optional)</label>
                    <input
                      id={control(`caption-${item.id}`)} type="text" maxLength={L.promptMaxChars}
                      value={item.caption} onChange={(e) => setCaption(item, e.target.value)}
                    />
                    <button type="button" className="secondary" onClick={() => remove(item)} aria-label={`Remove training image ${index + 1}: ${item.file.name}`}>
                      Remove
                    </button>
                  </div>
                </li>
              ))}
            </ul>
          )}
        </fieldset>

        <label htmlFor={control("instance-prompt")}>Trigger phrase</label>
        <input
          id={control("instance-prompt")} name="instance_prompt" type="text" required maxLength={L.promptMaxChars}
          placeholder="a photo of sks dog"
          aria-invalid={!!errorFor("instance-prompt")} aria-describedby={described("instance-prompt")}
          value={values.instancePrompt} onChange={(e) => set({ instancePrompt: e.target.value })}
        />
        {fieldError("instance-prompt")}

        <div className="row">
          <div>
            <label htmlFor={control("train-steps")}>Training steps</label>
            <input
              id={control("train-steps")} name="steps" type="number" min={L.stepsMin} max={L.stepsMax} step={1} required
              aria-invalid={!!errorFor("train-steps")} aria-describedby={described("train-steps")}
              value={values.steps} onChange={(e) => set({ steps: e.target.value })}
            />
            {fieldError("train-steps")}
          </div>
          <div>
            <label htmlFor={control("learning-rate")}>Learning rate</label>
            <input
              id={control("learning-rate")} name="learning_rate" type="number" min={0} max={L.learningRateMax} step="any" required
              aria-invalid={!!errorFor("learning-rate")} aria-describedby={described("learning-rate")}
              value={values.learningRate} onChange={(e) => set({ learningRate: e.target.value })}
            />
            {fieldError("learning-rate")}
          </div>
          <div>
            <label htmlFor={control("rank")}>Rank</label>
            <input
              id={control("rank")} name="rank" type="number" min={L.rankMin} max={L.rankMax} step={1} required
              aria-invalid={!!errorFor("rank")} aria-describedby={described("rank")}
              value={values.rank} onChange={(e) => set({ rank: e.target.value })}
            />
            {fieldError("rank")}
          </div>
          <div>
            <label htmlFor={control("resolution")}>Resolution (px)</label>
            <input
              id={control("resolution")} name="resolution" type="number" min={L.resolutionMin} max={L.resolutionMax}
              step={L.resolutionMultiple} required
              aria-invalid={!!errorFor("resolution")} aria-describedby={described("resolution")}
              value={values.resolution} onChange={(e) => set({ resolution: e.target.value })}
            />
            {fieldError("resolution")}
          </div>
          <div>
            <label htmlFor={control("train-seed")}>Training seed</label>
            <input
              id={control("train-seed")} name="seed" type="number" min={0} max={SEED_MAX} step={1} placeholder="random"
              aria-invalid={!!errorFor("train-seed")} aria-describedby={described("train-seed")}
              value={values.seed} onChange={(e) => set({ seed: e.target.value })}
            />
            {fieldError("train-seed")}
          </div>
        </div>
        <div className="check">
          <input
            id={control("text-encoder")} name="train_text_encoder" type="checkbox"
            checked={values.trainTextEncoder} onChange={(e) => set({ trainTextEncoder: e.target.checked })}
          />
          <label htmlFor={control("text-encoder")}>Also train the text encoder</label>
        </div>

        {uploading && (
          <div className="upload-progress">
            <label htmlFor={control("train-upload")}>
              {uploading.done < uploading.total ? `Uploading image ${uploading.done + 1} of ${uploading.total}` : "Images uploaded"}
            </label>
            <progress id={control("train-upload")} max={1} value={uploading.fraction} data-testid="train-upload-progress" />
          </div>
        )}
        {formError && <p className="form-error" role="alert">{formError}</p>}
        {started && <p role="status" data-testid="training-started">{started}</p>}
        <div className="actions">
          <button type="submit" disabled={busy}>{busy ? "Sending…" : "Start training"}</button>
        </div>
      </form>
    </section>
  );
}
