import { idToken, SessionExpired } from "../auth";
import type { components } from "./schema";

export type Schemas = components["schemas"];
export type JobRequest = Schemas["JobRequest"];
export type JobParams = Schemas["JobParams"];
export type TrainParams = Schemas["TrainParams"];
export type TrainRequest = Schemas["TrainRequest"];
export type ModelSummary = Schemas["ModelSummary"];
export type ModelView = Schemas["ModelView"];
export type ModelList = Schemas["ModelList"];
export type ModelDeleted = Schemas["ModelDeleted"];
export type Progress = Schemas["Progress"];

export function isTraining(params: JobParams | TrainParams): params is TrainParams {
  return "instance_images" in params;
}

/** A generation's parameters; a training's shown as the nearest generation fields. */
export function generationParams(params: JobParams | TrainParams): JobParams {
  if (isTraining(params)) {
    return { prompt: params.instance_prompt, steps: params.steps, seed: params.seed };
  }
  return params;
}
export type JobView = Schemas["JobView"];
export type JobSummary = Schemas["JobSummary"];
export type JobList = Schemas["JobList"];
export type JobAccepted = Schemas["JobAccepted"];
export type JobDeleted = Schemas["JobDeleted"];
export type UploadTicket = Schemas["UploadTicket"];
export type UploadRequest = Schemas["UploadRequest"];
export type DeletionView = Schemas["DeletionView"];
export type ErrorBody = Schemas["ErrorBody"];
export type ImageContentType = UploadRequest["content_type"];

/** An answer of the API with its `{error: {code, message, field}}` body. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | null;
  /** Every field problem (400 validation), the first one is `message`. */
  readonly details: { field: string | null; message: string }[];
  /** Seconds to wait before retrying (the Retry-After header), if the API said. */
  readonly retryAfterSeconds: number | null;

  constructor(status: number, body: ErrorBody, retryAfterSeconds: number | null) {
    super(body.message);
    this.name = "ApiError";
    this.status = status;
    this.code = body.code;
    this.field = body.field ?? null;
    this.details = body.details ?? [];
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The API could not be reached at all (offline, DNS, connection refused). */
export class NetworkError extends Error {
  constructor(cause: unknown) {
    super("The connection to the server was lost.");
    this.name = "NetworkError";
    this.cause = cause;
  }
}

type ConnectionListener = (online: boolean) => void;
const listeners = new Set<ConnectionListener>();

/** Called with false when a request fails to reach the API and true when one gets through. */
export function onConnectionChange(listener: ConnectionListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function report(online: boolean): void {
  for (const listener of listeners) listener(online);
}

type SessionListener = () => void;
const sessionListeners = new Set<SessionListener>();

/** Called when the API refuses the session (401) or it can no longer be refreshed. */
export function onSessionExpired(listener: SessionListener): () => void {
  sessionListeners.add(listener);
  return () => sessionListeners.delete(listener);
}

function retryAfter(response: Response): number | null {
  const value = response.headers.get("Retry-After");
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, Math.round(seconds));
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, Math.round((date - Date.now()) / 1000));
}

export class Api {
  constructor(private readonly baseUrl: string) {}

  private async request<T>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
    let token: string;
    try {
      token = await idToken();
    } catch (error) {
      if (error instanceof SessionExpired) sessionListeners.forEach((listener) => listener());
      throw error;
    }
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: {
          Authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { "Content-Type": "application/json" }),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
    } catch (error) {
      report(false);
      throw new NetworkError(error);
    }
    report(true);
    const text = await response.text();
    const data: unknown = text ? JSON.parse(text) : null;
    if (response.status === 401) {
      sessionListeners.forEach((listener) => listener());
      throw new SessionExpired();
    }
    if (!response.ok) {
      const error = (data as { error?: ErrorBody } | null)?.error ?? {
        code: "http_" + response.status,
        message: `The server answered ${response.status}.`,
        field: null,
      };
      throw new ApiError(response.status, error, retryAfter(response));
    }
    return data as T;
  }

  createUpload(contentType: ImageContentType): Promise<UploadTicket> {
    return this.request("POST", "/uploads", { content_type: contentType } satisfies UploadRequest);
  }

  createJob(job: JobRequest | TrainRequest, idempotencyKey: string): Promise<JobAccepted> {
    return this.request("POST", "/jobs", job, { "Idempotency-Key": idempotencyKey });
  }

  getJob(jobId: string): Promise<JobView> {
    return this.request("GET", `/jobs/${encodeURIComponent(jobId)}`);
  }

  listJobs(limit: number, cursor: string | null): Promise<JobList> {
    const query = new URLSearchParams({ limit: String(limit) });
    if (cursor) query.set("cursor", cursor);
    return this.request("GET", `/jobs?${query.toString()}`);
  }

  deleteJob(jobId: string): Promise<JobDeleted> {
    return this.request("DELETE", `/jobs/${encodeURIComponent(jobId)}`);
  }

  /** My trained adapters (LoRA), newest first. */
  listModels(): Promise<ModelList> {
    return this.request("GET", "/models");
  }

  /** One adapter with a short-lived download URL of its `.safetensors` file. */
  getModel(adapterId: string): Promise<ModelView> {
    return this.request("GET", `/models/${encodeURIComponent(adapterId)}`);
  }

  deleteModel(adapterId: string): Promise<ModelDeleted> {
    return this.request("DELETE", `/models/${encodeURIComponent(adapterId)}`);
  }

  /** Starts the deletion of all my data (202); it completes in the background. */
  deleteMe(): Promise<DeletionView> {
    return this.request("DELETE", "/me");
  }

  getDeletion(): Promise<DeletionView> {
    return this.request("GET", "/me/deletion");
  }
}
