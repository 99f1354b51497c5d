import { useId, useState, type FormEvent } from "react";
import type { Api, DeletionView } from "../api/client";

export const CONFIRM_PHRASE = "delete my data";
/** How often the page asks whether the background purge has finished. */
const DELETION_POLL_MS = 2000;

async function untilCompleted(api: Api, started: DeletionView): Promise<DeletionView> {
  let deletion = started;
  while (deletion.status !== "completed") {
    await new Promise((resolve) => window.setTimeout(resolve, DELETION_POLL_MS));
    deletion = await api.getDeletion();
  }
  return deletion;
}

interface Props {
  api: Api;
  onDeleted: (summary: string) => void;
}

export function DeleteAllData({ api, onDeleted }: Props) {
  const id = useId();
  const [typed, setTyped] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [progress, setProgress] = useState<string | null>(null);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (typed.trim() !== CONFIRM_PHRASE) return;
    setBusy(true);
    setError(null);
    try {
      const started = await api.deleteMe();
      setTyped("");
      setProgress("Deleting your data: this finishes in the background within a few minutes.");
      const result = await untilCompleted(api, started);
      setProgress(null);
      onDeleted(`Deleted ${result.jobs_deleted} job(s) and ${result.objects_deleted} file(s).`);
    } catch (caught) {
      setProgress(null);
      setError(caught instanceof Error ? caught.message : String(caught));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="panel danger-zone" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>Delete all my data</h2>
      <form onSubmit={submit} aria-label="Delete all my data">
        <p id={`${id}-why`}>
          This cancels your running jobs and deletes every image, upload and job record of yours. It cannot be undone.
          Type <strong>{CONFIRM_PHRASE}</strong> to confirm.
        </p>
        <label htmlFor={`${id}-confirm`}>Confirmation</label>
        <input id={`${id}-confirm`} name="confirm" autoComplete="off" aria-describedby={`${id}-why`} value={typed} onChange={(e) => setTyped(e.target.value)} />
        {progress && <p role="status">{progress}</p>}
        {error && <p className="form-error" role="alert">{error}</p>}
        <div className="actions">
          <button type="submit" className="danger" disabled={busy || typed.trim() !== CONFIRM_PHRASE}>
            Delete everything
          </button>
        </div>
      </form>
    </section>
  );
}
