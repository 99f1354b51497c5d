import { useId, useState, type FormEvent } from "react";
import { confirmRegistration, register, signInWithPassword } from "../auth";

interface Props {
  local: boolean;
  onSignedIn: () => void;
  /** Shown when a session ran out while the user was working. */
  expired?: boolean;
}

type Mode = "sign-in" | "sign-up" | "confirm";

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function AuthPanel({ local, onSignedIn, expired = false }: Props) {
  const [mode, setMode] = useState<Mode>("sign-in");
  const [username, setUsername] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [code, setCode] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const id = useId();

  const run = async (event: FormEvent, action: () => Promise<void>) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (caught) {
      setError(message(caught));
    } finally {
      setBusy(false);
    }
  };

  const signInNow = async () => {
    const result = await signInWithPassword(username, password);
    if (result === "confirm-sign-up") {
      setMode("confirm");
      setNotice("Confirm your account with the code we sent to your e-mail first.");
      return;
    }
    onSignedIn();
  };

  const title = mode === "sign-up" ? "Create an account" : mode === "confirm" ? "Confirm your account" : "Sign in";
  return (
    <section className="panel auth" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>{title}</h2>
      {expired && (
        <p className="notice" role="alert">
          Your session has expired. Sign in again: what you typed is kept.
        </p>
      )}
      {notice && <p className="notice" role="status">{notice}</p>}
      {mode === "sign-in" && (
        <form onSubmit={(event) => run(event, signInNow)} aria-label="Sign in">
          <label htmlFor={`${id}-user`}>User name</label>
          <input id={`${id}-user`} name="username" autoComplete="username" required value={username} onChange={(e) => setUsername(e.target.value)} />
          <label htmlFor={`${id}-password`}>Password</label>
          <input id={`${id}-password`} name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
          {error && <p className="field-error" role="alert">{error}</p>}
          <div className="actions">
            <button type="submit" disabled={busy}>Sign in</button>
            {!expired && (
              <button type="button" className="link" onClick={() => { setMode("sign-up"); setError(null); setNotice(null); }}>
                Create an account
              </button>
            )}
          </div>
        </form>
      )}
      {mode === "sign-up" && (
        <form
          aria-label="Create an account"
          onSubmit={(event) =>
            run(event, async () => {
              const needsCode = await register(username, email, password);
              if (needsCode) {
                setMode("confirm");
                setNotice(`We sent a confirmation code to ${email}.`);
              } else {
                await signInNow();
              }
            })
          }
        >
          <label htmlFor={`${id}-new-user`}>User name</label>
          <input id={`${id}-new-user`} name="username" autoComplete="username" required value={username} onChange={(e) => setUsername(e.target.value)} />
          <label htmlFor={`${id}-email`}>E-mail</label>
          <input id={`${id}-email`} name="email" type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
          <label htmlFor={`${id}-new-password`}>Password</label>
          <input
            id={`${id}-new-password`} name="password" type="password" autoComplete="new-password" required minLength={12}
            aria-describedby={`${id}-password-rules`} value={password} onChange={(e) => setPassword(e.target.value)}
          />
          <p id={`${id}-password-rules`} className="hint">At least 12 characters with upper and lower case letters and a digit.</p>
          {error && <p className="field-error" role="alert">{error}</p>}
          <div className="actions">
            <button type="submit" disabled={busy}>Create account</button>
            <button type="button" className="link" onClick={() => { setMode("sign-in"); setError(null); }}>
              I have an account
            </button>
          </div>
        </form>
      )}
      {mode === "confirm" && (
        <form
          aria-label="Confirm your account"
          onSubmit={(event) =>
            run(event, async () => {
              await confirmRegistration(username, code);
              await signInNow();
            })
          }
        >
          {local && (
            <p className="notice local-note">
              Local stack: no e-mail is sent and the emulator accepts any code (for example 123456).
            </p>
          )}
          <label htmlFor={`${id}-code`}>Confirmation code</label>
          <input id={`${id}-code`} name="code" inputMode="numeric" autoComplete="one-time-code" required value={code} onChange={(e) => setCode(e.target.value)} />
          {error && <p className="field-error" role="alert">{error}</p>}
          <div className="actions">
            <button type="submit" disabled={busy}>Confirm and sign in</button>
          </div>
        </form>
      )}
    </section>
  );
}
