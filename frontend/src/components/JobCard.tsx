import { useCallback, useState } from "react";
import { ApiError, NetworkError, generationParams, isTraining, type Api, type JobSummary, type JobView } from "../api/client";
import { usePolling } from "../polling";
import { LossCurve } from "./LossCurve";

export type Job = JobSummary & Partial<Pick<JobView, "queue_position" | "eta_seconds">>;

const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

interface Props {
  api: Api;
  job: Job;
  onUseSettings: (job: Job) => void;
  onRunAgain: (job: Job) => void;
  onChanged?: (job: Job) => void;
}

function statusText(job: Job): string {
  switch (job.status) {
    case "queued":
      return "Queued";
    case "running":
      return job.cancel_requested ? "Stopping" : "Running";
    case "succeeded":
      return "Done";
    case "failed":
      return "Failed";
    case "cancelled":
      return "Cancelled";
    default:
      return job.status;
  }
}

function formatEta(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

export async function download(url: string, name: string): Promise<void> {
  try {
    const response = await fetch(url);
    if (!response.ok) throw new Error(String(response.status));
    const blob = URL.createObjectURL(await response.blob());
    const link = document.createElement("a");
    link.href = blob;
    link.download = name;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(blob), 10_000);
  } catch {
    // The storage's CORS rules refused the read: let the browser open the image instead.
    window.open(url, "_blank", "noopener");
  }
}

export function JobCard({ api, job: initial, onUseSettings, onRunAgain, onChanged }: Props) {
  const [job, setJob] = useState<Job>(initial);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [gone, setGone] = useState(false);
  // A running training's losses as polled (the finished job keeps the whole curve).
  const [losses, setLosses] = useState<number[]>([]);
  const finished = FINISHED.has(job.status);

  const update = useCallback(
    (next: Job) => {
      setJob(next);
      onChanged?.(next);
    },
    [onChanged],
  );

  usePolling(async () => {
    let next: JobView;
    try {
      next = await api.getJob(job.job_id);
    } catch (caught) {
      if (caught instanceof ApiError && caught.status === 404) {
        setGone(true); // deleted meanwhile (e.g. "delete all my data" in another tab)
        return "stop";
      }
      throw caught;
    }
    const changed =
      next.status !== job.status ||
      next.progress?.step !== job.progress?.step ||
      next.queue_position !== job.queue_position;
    const loss = next.progress?.loss;
    if (loss != null && next.progress?.step !== job.progress?.step) setLosses((seen) => [...seen, loss]);
    update(next);
    if (FINISHED.has(next.status)) return "stop";
    return changed ? "changed" : "unchanged";
  }, !finished && !gone);

  const act = async (action: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (caught) {
      if (caught instanceof ApiError || caught instanceof NetworkError || caught instanceof Error) setError(caught.message);
    } finally {
      setBusy(false);
    }
  };

  const cancelOrDelete = () =>
    act(async () => {
      await api.deleteJob(job.job_id);
      update(await api.getJob(job.job_id));
    });

  const training = isTraining(job.params) ? job.params : null;
  const params = generationParams(job.params);
  const curve = job.loss_curve?.length ? job.loss_curve : losses;
  // A training's one output is its adapter file: listed under My models, not drawn here.
  const outputs = training ? [] : (job.outputs ?? []);
  const titleId = `job-${job.job_id}-title`;
  return (
    <article className={`job job-${job.status}`} aria-labelledby={titleId} data-job-id={job.job_id} data-status={job.status}>
      <header>
        <h3 id={titleId}>{params.prompt}</h3>
        <span className={`badge badge-${job.status}`} data-testid="job-status">{statusText(job)}</span>
      </header>
      {training ? (
        <p className="params">
          train · {training.instance_images.length} images · {training.steps} steps · rank {training.rank ?? 16} ·{" "}
          {training.resolution ?? 512} px · learning rate {training.learning_rate ?? 1e-4}
          {training.train_text_encoder ? " · text encoder" : ""} ·{" "}
          <span data-testid="job-seed">seed {training.seed ?? "random"}</span>
        </p>
      ) : (
      <p className="params">
        {job.kind} · {params.width}×{params.height} · {params.steps} steps · guidance {params.guidance_scale} ·{" "}
        <span data-testid="job-seed">seed {params.seed ?? "random"}</span>
        {params.num_images && params.num_images > 1 ? ` · ${params.num_images} images` : ""}
        {params.negative_prompt ? ` · not: ${params.negative_prompt}` : ""}
        {job.kind === "img2img" && params.strength != null ? ` · strength ${params.strength}` : ""}
        {params.adapter_id ? ` · model ${params.adapter_id} at ${params.adapter_scale ?? 1}` : ""}
      </p>
      )}
      {job.status === "queued" && (
        <p className="queue" data-testid="queue-info">
          {job.queue_position != null ? `Position in queue: ${job.queue_position + 1}` : "Waiting in the queue"}
          {job.eta_seconds != null ? ` · ready in about ${formatEta(job.eta_seconds)}` : ""}
        </p>
      )}
      {job.status === "running" && (
        <div className="running">
          <label htmlFor={`job-${job.job_id}-progress`}>
            {job.progress ? `Step ${job.progress.step} of ${job.progress.total}` : "Starting"}
            {job.progress?.loss != null ? ` · loss ${job.progress.loss.toFixed(4)}` : ""}
            {job.eta_seconds != null ? ` · about ${formatEta(job.eta_seconds)} left` : ""}
          </label>
          <progress
            id={`job-${job.job_id}-progress`} data-testid="job-progress"
            max={job.progress?.total ?? 1} value={job.progress?.step ?? 0}
          />
        </div>
      )}
      {training && curve.length > 1 && <LossCurve losses={curve} />}
      {training && job.status === "succeeded" && job.adapter_id && (
        <p data-testid="trained-model">
          Model <code>{job.adapter_id}</code> is ready: pick it in the Generate form, or download it under My models.
        </p>
      )}
      {gone && <p className="hint">This job has been deleted.</p>}
      {job.status === "failed" && job.error && <p className="form-error">{job.error.message}</p>}
      {outputs.length > 0 && (
        <ul className="images">
          {outputs.map((output, index) => (
            <li key={output.key}>
              <img src={output.url} alt={`Image ${index + 1} of “${params.prompt}”`} width={params.width} height={params.height} />
              <button
                type="button" className="secondary"
                onClick={() => download(output.url, `${job.job_id}-${index + 1}.png`)}
                aria-label={`Download image ${index + 1} of “${params.prompt}”`}
              >
                Download
              </button>
            </li>
          ))}
        </ul>
      )}
      {!training && job.status === "succeeded" && outputs.length === 0 && <p className="hint">Images deleted.</p>}
      {error && <p className="form-error" role="alert">{error}</p>}
      <div className="actions">
        {!finished && (
          <button type="button" onClick={cancelOrDelete} disabled={busy || job.cancel_requested}>
            Cancel
          </button>
        )}
        {!training && (
          <>
            <button type="button" className="secondary" onClick={() => onUseSettings(job)}>
              Use these settings
            </button>
            <button type="button" className="secondary" onClick={() => onRunAgain(job)} disabled={params.seed == null}>
              Run again with this seed
            </button>
          </>
        )}
        {finished && outputs.length > 0 && (
          <button type="button" className="danger" onClick={cancelOrDelete} disabled={busy}>
            Delete images
          </button>
        )}
      </div>
    </article>
  );
}
