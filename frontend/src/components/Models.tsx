import { useCallback, useEffect, useId, useState } from "react";
import type { Api, ModelSummary } from "../api/client";
import { formatBytes } from "../upload";

interface Props {
  api: Api;
  /** Changes when a training finishes: the list is fetched again. */
  version: number;
  onUse: (model: ModelSummary) => void;
  onDeleted: (adapterId: string) => void;
}

/** Follows a presigned URL whose answer is an attachment: the browser saves the file. */
function saveFrom(url: string): void {
  const link = document.createElement("a");
  link.href = url;
  link.rel = "noopener";
  document.body.append(link);
  link.click();
  link.remove();
}

export function Models({ api, version, onUse, onDeleted }: Props) {
  const id = useId();
  const [items, setItems] = useState<ModelSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);

  const load = useCallback(async () => {
    setError(null);
    try {
      setItems((await api.listModels()).items);
    } catch (caught) {
      setError(caught instanceof Error ? caught.message : String(caught));
    }
  }, [api]);

  useEffect(() => {
    void load();
  }, [load, version]);

  const act = async (adapterId: string, action: () => Promise<void>) => {
    setBusy(adapterId);
    setError(null);
    try {
      await action();
    } catch (caught) {
      setError(caught instanceof Error ? caught.message : String(caught));
    } finally {
      setBusy(null);
    }
  };

  const download = (model: ModelSummary) =>
    act(model.adapter_id, async () => saveFrom((await api.getModel(model.adapter_id)).download_url));

  const remove = (model: ModelSummary) =>
    act(model.adapter_id, async () => {
      await api.deleteModel(model.adapter_id);
      setConfirming(null);
      setItems((current) => current?.filter((item) => item.adapter_id !== model.adapter_id) ?? null);
      onDeleted(model.adapter_id);
    });

  return (
    <section className="panel" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>My models</h2>
      {error && <p className="form-error" role="alert">{error}</p>}
      {items === null && !error && <p role="status">Loading…</p>}
      {items?.length === 0 && <p data-testid="models-empty">No models yet: train one above.</p>}
      <ul className="models" data-testid="models">
        {items?.map((model) => (
          <li key={model.adapter_id} className="model" data-adapter-id={model.adapter_id}>
            <h3>{model.instance_prompt ?? model.adapter_id}</h3>
            <p className="params">
              <code>{model.adapter_id}</code> · {model.steps ?? "?"} steps · rank {model.rank ?? "?"} · {formatBytes(model.size_bytes)}
              {model.created_at ? ` · ${new Date(model.created_at).toLocaleString()}` : ""}
            </p>
            <div className="actions">
              <button type="button" onClick={() => onUse(model)}>Generate with it</button>
              <button type="button" className="secondary" disabled={busy === model.adapter_id} onClick={() => void download(model)}>
                Download .safetensors
              </button>
              {confirming === model.adapter_id ? (
                <>
                  <button type="button" className="danger" disabled={busy === model.adapter_id} onClick={() => void remove(model)}>
                    Yes, delete it
                  </button>
                  <button type="button" className="secondary" onClick={() => setConfirming(null)}>Keep it</button>
                </>
              ) : (
                <button type="button" className="danger" onClick={() => setConfirming(model.adapter_id)}>
                  Delete model
                </button>
              )}
            </div>
          </li>
        ))}
      </ul>
      <div className="actions">
        <button type="button" className="secondary" onClick={() => void load()}>Refresh</button>
      </div>
    </section>
  );
}
