import { type FormEvent, type KeyboardEvent, useId, useMemo, useRef, useState } from "react";
import { api, ApiError, type Message, type SendBody, type Snippet } from "../api";
import { useResource } from "../hooks";
import { useI18n } from "../i18n";
import { fillSnippet, type SnippetContext, searchSnippets, slashQuery } from "../snippets";
import { errorMessage } from "./ui";

type ComposerProps = {
  tenant: string;
  conversationId: string;
  context: SnippetContext;
  onSent: (message: Message) => void;
  /** The server said the 24-hour window is closed: switch to templates. */
  onWindowClosed: () => void;
};

function optimistic(id: string, text: string, authorName: string): Message {
  return {
    id,
    direction: "outbound",
    type: "text",
    text,
    status: "queued",
    createdAt: new Date().toISOString(),
    authorName,
  };
}

export function Composer({ tenant, conversationId, context, onSent, onWindowClosed }: ComposerProps) {
  const { t } = useI18n();
  const textareaId = useId();
  const listboxId = useId();
  const errorId = useId();
  const textarea = useRef<HTMLTextAreaElement>(null);
  const [draft, setDraft] = useState("");
  const [slash, setSlash] = useState<{ start: number; query: string } | null>(null);
  const [active, setActive] = useState(0);
  const [chosen, setChosen] = useState<{ snippet: Snippet; filled: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const snippets = useResource(() => api.snippets(tenant), [tenant]);

  const matches = useMemo(
    () => (slash ? searchSnippets(snippets.data ?? [], slash.query).slice(0, 8) : []),
    [slash, snippets.data],
  );
  const open = slash !== null;

  function updateSlash(text: string, caret: number) {
    const next = slashQuery(text, caret);
    setSlash(next);
    setActive(0);
  }

  function pick(snippet: Snippet) {
    if (!slash) return;
    const filled = fillSnippet(snippet.body, context);
    const before = draft.slice(0, slash.start);
    const after = draft.slice(slash.start + 1 + slash.query.length);
    const next = `${before}${filled}${after}`;
    setDraft(next);
    setChosen({ snippet, filled });
    setSlash(null);
    const caret = before.length + filled.length;
    requestAnimationFrame(() => {
      textarea.current?.focus();
      textarea.current?.setSelectionRange(caret, caret);
    });
  }

  async function send(event?: FormEvent) {
    event?.preventDefault();
    const text = draft.trim();
    if (!text || busy) return;
    // Unchanged snippet → send its id so the server fills it and checks it against the rule book.
    const body: SendBody =
      chosen && text === chosen.filled.trim() ? { snippetId: chosen.snippet.id } : { text };
    setBusy(true);
    setError(undefined);
    try {
      const answer = await api.sendMessage(tenant, conversationId, body);
      onSent(optimistic(answer.message.id, text, context.agentName));
      setDraft("");
      setChosen(null);
    } catch (caught) {
      setError(caught);
      if (caught instanceof ApiError && caught.code === "window_closed") onWindowClosed();
    } finally {
      setBusy(false);
      textarea.current?.focus();
    }
  }

  function onKeyDown(event: KeyboardEvent<HTMLTextAreaElement>) {
    if (open) {
      if (event.key === "ArrowDown") {
        event.preventDefault();
        setActive((i) => (matches.length ? (i + 1) % matches.length : 0));
        return;
      }
      if (event.key === "ArrowUp") {
        event.preventDefault();
        setActive((i) => (matches.length ? (i - 1 + matches.length) % matches.length : 0));
        return;
      }
      if (event.key === "Escape") {
        event.preventDefault();
        setSlash(null);
        return;
      }
      if ((event.key === "Enter" || event.key === "Tab") && matches[active]) {
        event.preventDefault();
        pick(matches[active]);
        return;
      }
    }
    if (event.key === "Enter" && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      void send();
    }
  }

  const activeId = open && matches[active] ? `${listboxId}-${matches[active].id}` : undefined;

  return (
    <form className="composer" onSubmit={send} data-testid="composer-form">
      {chosen && draft.trim() === chosen.filled.trim() ? (
        <p className="snippet-chosen muted small" data-testid="snippet-preview">
          {t("composer.snippetPreview", { title: chosen.snippet.title })}
        </p>
      ) : null}
      {open ? (
        <div className="snippet-popup">
          <p className="snippet-popup-title small muted">{t("composer.snippets")}</p>
          {snippets.error !== undefined ? (
            <p className="field-error">{errorMessage(t, snippets.error)}</p>
          ) : null}
          <div id={listboxId} role="listbox" aria-label={t("composer.snippets")} data-testid="snippet-list">
            {matches.map((snippet, index) => (
              // Keyboard selection happens in the textarea (combobox with aria-activedescendant).
              // biome-ignore lint/a11y/useKeyWithClickEvents: see above
              <div
                key={snippet.id}
                tabIndex={-1}
                id={`${listboxId}-${snippet.id}`}
                role="option"
                aria-selected={index === active}
                className={index === active ? "active" : undefined}
                data-testid="snippet-item"
                data-shortcut={snippet.shortcut}
                onMouseDown={(event) => event.preventDefault()}
                onClick={() => pick(snippet)}
              >
                <span className="snippet-shortcut">/{snippet.shortcut.replace(/^\//, "")}</span>{" "}
                <span className="snippet-title">{snippet.title}</span>
                <span className="snippet-body small muted">{fillSnippet(snippet.body, context)}</span>
              </div>
            ))}
          </div>
          {matches.length === 0 && snippets.data ? (
            <p className="muted small">{t("composer.noSnippets")}</p>
          ) : null}
        </div>
      ) : null}
      <label htmlFor={textareaId} className="visually-hidden">
        {t("composer.label")}
      </label>
      <div className="composer-row">
        <textarea
          id={textareaId}
          ref={textarea}
          data-testid="composer"
          rows={3}
          value={draft}
          placeholder={t("composer.placeholder")}
          role="combobox"
          aria-autocomplete="list"
          aria-expanded={open}
          aria-controls={open ? listboxId : undefined}
          aria-activedescendant={activeId}
          aria-describedby={error ? errorId : undefined}
          onChange={(event) => {
            setDraft(event.target.value);
            updateSlash(event.target.value, event.target.selectionStart);
          }}
          onKeyDown={onKeyDown}
          onBlur={() => setSlash(null)}
        />
        <button type="submit" className="primary" data-testid="send-button" disabled={busy || !draft.trim()}>
          {busy ? t("composer.sending") : t("composer.send")}
        </button>
      </div>
      {error ? (
        <p id={errorId} className="form-error" role="alert" data-testid="composer-error">
          {errorMessage(t, error)}
        </p>
      ) : (
        <p className="hint">{t("composer.hint")}</p>
      )}
    </form>
  );
}

export function TemplatePicker({
  tenant,
  conversationId,
  onSent,
  authorName,
}: {
  tenant: string;
  conversationId: string;
  onSent: (message: Message) => void;
  authorName: string;
}) {
  const { t } = useI18n();
  const [name, setName] = useState("");
  const [language, setLanguage] = useState("de");
  const [params, setParams] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const nameId = useId();
  const languageId = useId();
  const paramsId = useId();

  async function send(event: FormEvent) {
    event.preventDefault();
    if (!name.trim() || busy) return;
    const list = params
      .split("\n")
      .map((p) => p.trim())
      .filter(Boolean);
    setBusy(true);
    setError(undefined);
    try {
      const answer = await api.sendMessage(tenant, conversationId, {
        template: { name: name.trim(), language: language.trim() || "de", params: list },
      });
      onSent({
        ...optimistic(answer.message.id, `[${name.trim()}] ${list.join(" · ")}`, authorName),
        type: "template",
      });
      setParams("");
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="composer template-picker" onSubmit={send} data-testid="template-picker">
      <h3 className="small">{t("composer.template")}</h3>
      <div className="template-grid">
        <div className="field">
          <label htmlFor={nameId}>{t("composer.templateName")}</label>
          <input
            id={nameId}
            data-testid="template-name"
            value={name}
            required
            onChange={(event) => setName(event.target.value)}
          />
        </div>
        <div className="field field-short">
          <label htmlFor={languageId}>{t("composer.templateLanguage")}</label>
          <input
            id={languageId}
            data-testid="template-language"
            value={language}
            onChange={(event) => setLanguage(event.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor={paramsId}>{t("composer.templateParams")}</label>
          <textarea
            id={paramsId}
            data-testid="template-params"
            rows={2}
            value={params}
            onChange={(event) => setParams(event.target.value)}
          />
        </div>
      </div>
      <button type="submit" className="primary" data-testid="template-send" disabled={busy || !name.trim()}>
        {busy ? t("composer.sending") : t("composer.sendTemplate")}
      </button>
      {error ? (
        <p className="form-error" role="alert" data-testid="composer-error">
          {errorMessage(t, error)}
        </p>
      ) : null}
    </form>
  );
}
