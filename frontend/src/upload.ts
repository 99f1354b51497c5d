import type { ImageContentType, UploadTicket } from "./api/client";

/** The server's limits (POST /uploads: content types; SDFLEET_UPLOAD_MAX_BYTES at most 10 MiB). */
export const IMAGE_TYPES: readonly ImageContentType[] = ["image/png", "image/jpeg", "image/webp"];
export const UPLOAD_MAX_BYTES = 10 * 1024 * 1024;

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(0)} KiB`;
  return `${bytes} bytes`;
}

/** Null when the file may be uploaded, else a message naming the limit and the value. */
export function checkImageFile(file: File, maxBytes = UPLOAD_MAX_BYTES, label = "Input image"): string | null {
  if (!(IMAGE_TYPES as readonly string[]).includes(file.type)) {
    return `${label}: must be PNG, JPEG or WebP (got ${file.type || "an unknown type"}).`;
  }
  if (file.size < 1) return `${label}: the file is empty.`;
  if (file.size > maxBytes) {
    return `${label}: must be at most ${formatBytes(maxBytes)} (got ${formatBytes(file.size)}).`;
  }
  return null;
}

/**
 * Sends the file through the presigned POST with XMLHttpRequest, whose upload events (unlike
 * fetch's) report progress. Resolves when S3 accepted the object.
 */
export function postToPresignedUrl(
  ticket: UploadTicket,
  file: File,
  onProgress: (fraction: number) => void,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(ticket.fields)) form.append(name, value);
    form.append("file", file); // last: S3 ignores fields after the file
    const request = new XMLHttpRequest();
    request.open("POST", ticket.url);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    request.addEventListener("load", () => {
      if (request.status >= 200 && request.status < 300) {
        onProgress(1);
        resolve();
      } else {
        reject(new Error(`The upload was refused (HTTP ${request.status}).`));
      }
    });
    request.addEventListener("error", () => reject(new Error("The upload failed: the connection was lost.")));
    request.addEventListener("abort", () => reject(new Error("The upload was cancelled.")));
    request.send(form);
  });
}
