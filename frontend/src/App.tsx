import { useCallback, useEffect, useMemo, useState, type MouseEvent } from "react";
import { Api, generationParams, onConnectionChange, onSessionExpired, type JobRequest, type ModelSummary, type TrainRequest } from "./api/client";
import { currentUser, signOutEverywhere } from "./auth";
import { AuthPanel } from "./components/AuthPanel";
import { DeleteAllData } from "./components/DeleteAllData";
import { GenerateForm } from "./components/GenerateForm";
import { History } from "./components/History";
import { JobCard, type Job } from "./components/JobCard";
import { Models } from "./components/Models";
import { TrainForm } from "./components/TrainForm";
import type { AppConfig } from "./config";
import { fromParams, loadDraft, repeatRequest, saveDraft, type FormValues } from "./form";
import { DEFAULT_TRAIN_FORM, type TrainFormValues } from "./training";

type Route = "/" | "/models" | "/history";

const TITLES: Record<Route, string> = { "/": "Generate", "/models": "Models", "/history": "History" };

function routeOf(path: string): Route {
  if (path.startsWith("/history")) return "/history";
  if (path.startsWith("/models")) return "/models";
  return "/";
}

function pendingJob(jobId: string, request: JobRequest | TrainRequest): Job {
  const { kind = "txt2img", ...params } = request;
  return {
    job_id: jobId,
    kind,
    status: "queued",
    params: params as Job["params"],
    outputs: [],
    created_at: new Date().toISOString(),
  };
}

export function App({ config }: { config: AppConfig }) {
  const api = useMemo(() => new Api(config.apiUrl), [config.apiUrl]);
  const [user, setUser] = useState<string | null | undefined>(undefined);
  const [expired, setExpired] = useState(false);
  const [online, setOnline] = useState(true);
  const [route, setRoute] = useState<Route>(routeOf(window.location.pathname));
  const [form, setForm] = useState<FormValues>(loadDraft);
  const [watched, setWatched] = useState<Job[]>([]);
  const [notice, setNotice] = useState<string | null>(null);
  const [historyVersion, setHistoryVersion] = useState(0);
  const [trainForm, setTrainForm] = useState<TrainFormValues>(DEFAULT_TRAIN_FORM);
  const [trainings, setTrainings] = useState<Job[]>([]);
  const [modelsVersion, setModelsVersion] = useState(0);
  const [models, setModels] = useState<ModelSummary[] | null>(null);

  useEffect(() => {
    void currentUser().then(setUser);
    const offConnection = onConnectionChange(setOnline);
    const offSession = onSessionExpired(() => setExpired(true));
    const goOffline = () => setOnline(false);
    const onPop = () => setRoute(routeOf(window.location.pathname));
    window.addEventListener("offline", goOffline);
    window.addEventListener("popstate", onPop);
    return () => {
      offConnection();
      offSession();
      window.removeEventListener("offline", goOffline);
      window.removeEventListener("popstate", onPop);
    };
  }, []);

  useEffect(() => saveDraft(form), [form]);

  useEffect(() => {
    document.title = `${TITLES[route]} · sdfleet`;
  }, [route]);

  // The Generate form's model choices: fetched when it is shown and after a training ends.
  useEffect(() => {
    if (!user || route !== "/") return;
    let current = true;
    api.listModels().then(
      (list) => current && setModels(list.items),
      () => current && setModels(null),
    );
    return () => {
      current = false;
    };
  }, [api, user, route, modelsVersion]);

  const navigate = useCallback((to: Route, event?: MouseEvent) => {
    event?.preventDefault();
    if (window.location.pathname !== to) window.history.pushState(null, "", to);
    setRoute(to);
    setNotice(null);
    window.scrollTo(0, 0);
  }, []);

  const watch = useCallback((jobId: string, request: JobRequest) => {
    setWatched((jobs) => [pendingJob(jobId, request), ...jobs.filter((job) => job.job_id !== jobId)]);
  }, []);

  const watchTraining = useCallback((jobId: string, request: TrainRequest) => {
    setTrainings((jobs) => [pendingJob(jobId, request), ...jobs.filter((job) => job.job_id !== jobId)]);
  }, []);

  const trainingChanged = useCallback((job: Job) => {
    if (job.status === "succeeded") setModelsVersion((v) => v + 1);
  }, []);

  const generateWith = useCallback(
    (model: ModelSummary) => {
      setForm((values) => ({
        ...values,
        adapterId: model.adapter_id,
        prompt: values.prompt.trim() ? values.prompt : (model.instance_prompt ?? ""),
      }));
      navigate("/");
      setNotice(`The form now generates with the model “${model.instance_prompt ?? model.adapter_id}”.`);
    },
    [navigate],
  );

  const modelDeleted = useCallback((adapterId: string) => {
    setForm((values) => (values.adapterId === adapterId ? { ...values, adapterId: "" } : values));
    setModelsVersion((v) => v + 1);
  }, []);

  const useSettings = useCallback(
    (job: Job) => {
      setForm(fromParams(generationParams(job.params), true));
      navigate("/");
      setNotice("The form now holds that job's settings (input images are not reused).");
    },
    [navigate],
  );

  const runAgain = useCallback(
    async (job: Job) => {
      setNotice(null);
      try {
        const request = repeatRequest(job.kind, generationParams(job.params));
        const accepted = await api.createJob(request, crypto.randomUUID());
        watch(accepted.job_id, request);
        navigate("/");
        setNotice(`Submitted again with seed ${request.seed}.`);
      } catch (caught) {
        setNotice(caught instanceof Error ? caught.message : String(caught));
      }
    },
    [api, navigate, watch],
  );

  const signOut = async () => {
    await signOutEverywhere();
    setWatched([]);
    setTrainings([]);
    setUser(null);
  };

  const signedIn = async () => {
    setExpired(false);
    setUser(await currentUser());
  };

  return (
    <>
      <a className="skip" href="#main">Skip to content</a>
      <header className="top">
        <h1>sdfleet</h1>
        {user && (
          <nav aria-label="Main">
            <a href="/" aria-current={route === "/" ? "page" : undefined} onClick={(e) => navigate("/", e)}>Generate</a>
            <a href="/models" aria-current={route === "/models" ? "page" : undefined} onClick={(e) => navigate("/models", e)}>Models</a>
            <a href="/history" aria-current={route === "/history" ? "page" : undefined} onClick={(e) => navigate("/history", e)}>History</a>
          </nav>
        )}
        {user && (
          <div className="who">
            <span data-testid="signed-in-user">{user}</span>
            <button type="button" className="secondary" onClick={() => void signOut()}>Sign out</button>
          </div>
        )}
      </header>
      {!online && (
        <p className="banner" role="status" data-testid="offline-banner">
          Connection lost. Retrying; nothing you typed is lost.
        </p>
      )}
      <main id="main">
        {user === undefined && <p role="status">Loading…</p>}
        {user === null && <AuthPanel local={!!config.local} onSignedIn={() => void signedIn()} />}
        {user && expired && <AuthPanel local={!!config.local} expired onSignedIn={() => void signedIn()} />}
        {notice && <p className="notice" role="status">{notice}</p>}
        {user && route === "/" && (
          <>
            <GenerateForm
              api={api} values={form} onChange={setForm} onSubmitted={watch} onSessionExpired={() => setExpired(true)} models={models}
            />
            <section className="panel" aria-labelledby="watch-title">
              <h2 id="watch-title">This session's jobs</h2>
              {watched.length === 0 && <p className="hint">Jobs you submit appear here with their progress.</p>}
              <div className="jobs" data-testid="watched">
                {watched.map((job) => (
                  <JobCard key={job.job_id} api={api} job={job} onUseSettings={useSettings} onRunAgain={(j) => void runAgain(j)} />
                ))}
              </div>
            </section>
          </>
        )}
        {user && route === "/models" && (
          <>
            <TrainForm api={api} values={trainForm} onChange={setTrainForm} onSubmitted={watchTraining} onSessionExpired={() => setExpired(true)} />
            <section className="panel" aria-labelledby="trainings-title">
              <h2 id="trainings-title">This session's trainings</h2>
              {trainings.length === 0 && <p className="hint">Trainings you start appear here with their step and loss.</p>}
              <div className="jobs" data-testid="trainings">
                {trainings.map((job) => (
                  <JobCard
                    key={job.job_id} api={api} job={job} onUseSettings={useSettings} onRunAgain={(j) => void runAgain(j)}
                    onChanged={trainingChanged}
                  />
                ))}
              </div>
            </section>
            <Models api={api} version={modelsVersion} onUse={generateWith} onDeleted={modelDeleted} />
          </>
        )}
        {user && route === "/history" && (
          <>
            <History key={historyVersion} api={api} onUseSettings={useSettings} onRunAgain={(j) => void runAgain(j)} />
            <DeleteAllData
              api={api}
              onDeleted={(summary) => {
                setWatched([]);
                setTrainings([]);
                setModelsVersion((v) => v + 1);
                setHistoryVersion((v) => v + 1);
                setNotice(summary);
              }}
            />
          </>
        )}
      </main>
    </>
  );
}
