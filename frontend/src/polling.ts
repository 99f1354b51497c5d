import { useEffect, useRef } from "react";

export const POLL_FIRST_MS = 1000;
export const POLL_MAX_MS = 15000;
const BACKOFF = 1.6;

/**
 * Calls `poll` until it returns "stop": again after 1 s while something changes, backing off
 * (x1.6, at most 15 s) while nothing does or requests fail. Nothing runs while the tab is
 * hidden; showing it polls at once.
 */
export function usePolling(
  poll: () => Promise<"changed" | "unchanged" | "stop">,
  active: boolean,
): void {
  const pollRef = useRef(poll);
  pollRef.current = poll;

  useEffect(() => {
    if (!active) return;
    let delay = POLL_FIRST_MS;
    let timer: number | undefined;
    let stopped = false;
    let running = false;

    const schedule = (ms: number) => {
      window.clearTimeout(timer);
      if (!stopped && !document.hidden) timer = window.setTimeout(tick, ms);
    };
    const tick = async () => {
      if (stopped || running || document.hidden) return;
      running = true;
      let outcome: "changed" | "unchanged" | "stop" | "failed";
      try {
        outcome = await pollRef.current();
      } catch {
        outcome = "failed";
      }
      running = false;
      if (outcome === "stop") {
        stopped = true;
        return;
      }
      delay = outcome === "changed" ? POLL_FIRST_MS : Math.min(delay * BACKOFF, POLL_MAX_MS);
      schedule(delay);
    };
    const onVisibility = () => {
      if (document.hidden) {
        window.clearTimeout(timer);
      } else {
        delay = POLL_FIRST_MS;
        void tick();
      }
    };
    const onOnline = () => {
      delay = POLL_FIRST_MS;
      void tick();
    };
    document.addEventListener("visibilitychange", onVisibility);
    window.addEventListener("online", onOnline);
    void tick();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
      document.removeEventListener("visibilitychange", onVisibility);
      window.removeEventListener("online", onOnline);
    };
  }, [active]);
}
