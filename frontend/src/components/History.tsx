import { useCallback, useEffect, useId, useState } from "react";
import { type Api } from "../api/client";
import { JobCard, type Job } from "./JobCard";

export const PAGE_SIZE = 6;

interface Props {
  api: Api;
  onUseSettings: (job: Job) => void;
  onRunAgain: (job: Job) => void;
}

export function History({ api, onUseSettings, onRunAgain }: Props) {
  const id = useId();
  // cursors[i] fetched page i (null: the first page).
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [items, setItems] = useState<Job[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const page = cursors.length - 1;

  const load = useCallback(async () => {
    setError(null);
    try {
      const list = await api.listJobs(PAGE_SIZE, cursors[cursors.length - 1] ?? null);
      setItems(list.items);
      setNext(list.next_cursor ?? null);
    } catch (caught) {
      setError(caught instanceof Error ? caught.message : String(caught));
    }
  }, [api, cursors]);

  useEffect(() => {
    void load();
  }, [load]);

  return (
    <section className="panel" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>History</h2>
      <p className="hint">Your jobs, newest first. Page {page + 1}.</p>
      {error && <p className="form-error" role="alert">{error}</p>}
      {items === null && !error && <p role="status">Loading…</p>}
      {items?.length === 0 && <p data-testid="history-empty">No jobs yet.</p>}
      <div className="jobs" data-testid="history">
        {items?.map((job) => (
          <JobCard key={job.job_id} api={api} job={job} onUseSettings={onUseSettings} onRunAgain={onRunAgain} />
        ))}
      </div>
      <nav className="actions" aria-label="History pages">
        <button type="button" className="secondary" disabled={page === 0} onClick={() => setCursors(cursors.slice(0, -1))}>
          Newer
        </button>
        <button type="button" className="secondary" disabled={!next} onClick={() => next && setCursors([...cursors, next])}>
          Older
        </button>
        <button type="button" className="secondary" onClick={() => void load()}>
          Refresh
        </button>
      </nav>
    </section>
  );
}
