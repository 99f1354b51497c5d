import { useCallback, useEffect, useMemo, useState, type MouseEvent } from "react";
import { Api, generationParams, onConnectionChange, onSessionExpired, type JobRequest } from "./api/client";
import { currentUser, signOutEverywhere } from "./auth";
import { AuthPanel } from "./components/AuthPanel";
import { DeleteAllData } from "./components/DeleteAllData";
import { GenerateForm } from "./components/GenerateForm";
import { History } from "./components/History";
import { JobCard, type Job } from "./components/JobCard";
import type { AppConfig } from "./config";
import { fromParams, loadDraft, repeatRequest, saveDraft, type FormValues } from "./form";

type Route = "/" | "/history";

function routeOf(path: string): Route {
  return path.startsWith("/history") ? "/history" : "/";
}

function pendingJob(jobId: string, request: JobRequest): Job {
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
    document.title = route === "/history" ? "History · sdfleet" : "Generate · sdfleet";
  }, [route]);

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
            <GenerateForm api={api} values={form} onChange={setForm} onSubmitted={watch} onSessionExpired={() => setExpired(true)} />
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
        {user && route === "/history" && (
          <>
            <History key={historyVersion} api={api} onUseSettings={useSettings} onRunAgain={(j) => void runAgain(j)} />
            <DeleteAllData api={api} onDeleted={(summary) => { setWatched([]); setHistoryVersion((v) => v + 1); setNotice(summary); }} />
          </>
        )}
      </main>
    </>
  );
}
