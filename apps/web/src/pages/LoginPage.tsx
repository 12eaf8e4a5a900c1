import { type FormEvent, useState } from "react";
import { api } from "../api";
import { errorMessage } from "../components/ui";
import { LANGS, useI18n } from "../i18n";
import { useSession } from "../session";

export function LoginPage({ expired }: { expired: boolean }) {
  const { t, lang, setLang } = useI18n();
  const { signedIn } = useSession();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await api.login(email.trim(), password);
      await signedIn();
    } catch (caught) {
      setError(caught);
      setPassword("");
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="center-page" id="main">
      <form className="card login-card" onSubmit={submit} noValidate data-testid="login-form">
        <h1>
          {t("app.name")} – {t("login.title")}
        </h1>
        {expired && !error ? (
          <p className="notice" role="status" data-testid="login-expired">
            {t("login.expired")}
          </p>
        ) : null}
        <div className="field">
          <label htmlFor="login-email">{t("login.email")}</label>
          <input
            id="login-email"
            data-testid="login-email"
            type="email"
            autoComplete="username"
            required
            value={email}
            onChange={(event) => setEmail(event.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="login-password">{t("login.password")}</label>
          <input
            id="login-password"
            data-testid="login-password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(event) => setPassword(event.target.value)}
          />
        </div>
        {error ? (
          <p className="form-error" role="alert" data-testid="login-error">
            {errorMessage(t, error)}
          </p>
        ) : null}
        <button type="submit" className="primary" data-testid="login-submit" disabled={busy}>
          {busy ? t("login.busy") : t("login.submit")}
        </button>
        <div className="login-lang">
          {LANGS.map((l) => (
            <button
              key={l}
              type="button"
              className="link-button"
              aria-pressed={lang === l}
              onClick={() => setLang(l)}
            >
              {l === "de" ? "Deutsch" : "English"}
            </button>
          ))}
        </div>
      </form>
    </main>
  );
}
