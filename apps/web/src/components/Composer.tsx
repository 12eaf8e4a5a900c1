import { type FormEvent, type KeyboardEvent, useId, useMemo, useRef, useState } from "react";
import { api, ApiError, type Message, type SendBody, type Snippet, type Template } from "../api";
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

/** The template's text with the parameters filled in as typed so far (`{{1}}` stays until it has a value). */
function fillTemplate(
  text: string | null,
  component: "header" | "body",
  template: Template,
  values: string[],
) {
  if (!text) return null;
  return text.replace(/\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g, (whole, name: string) => {
    const index = template.parameters.findIndex((p) => p.component === component && p.name === name);
    const value = index >= 0 ? values[index]?.trim() : "";
    return value || whole;
  });
}

/**
 * The template form (outside the 24-hour window, or when the agent chooses it): the bank's approved
 * templates from its registry, one input per parameter, and a preview of the filled-in message. Templates
 * WhatsApp has not approved (paused, rejected, pending, disabled) are listed but cannot be chosen, with
 * Meta's reason.
 */
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
  const templates = useResource(() => api.templates(tenant), [tenant]);
  const [chosen, setChosen] = useState("");
  const [values, setValues] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const selectId = useId();
  const paramId = useId();
  const keyOf = (x: Template) => `${x.name}|${x.language}`;
  const list = templates.data ?? [];
  const template = list.find((x) => keyOf(x) === chosen && x.sendable);
  const complete = template ? template.parameters.every((_, i) => values[i]?.trim()) : false;

  function choose(key: string) {
    setChosen(key);
    const next = list.find((x) => keyOf(x) === key);
    setValues(next ? next.parameters.map(() => "") : []);
    setError(undefined);
  }

  async function send(event: FormEvent) {
    event.preventDefault();
    if (!template || !complete || busy) return;
    const params = template.parameters.map((_, i) => values[i]?.trim() ?? "");
    setBusy(true);
    setError(undefined);
    try {
      const answer = await api.sendMessage(tenant, conversationId, {
        template: { name: template.name, language: template.language, params },
      });
      const preview = [
        fillTemplate(template.header, "header", template, params),
        fillTemplate(template.body, "body", template, params),
      ]
        .filter(Boolean)
        .join("\n\n");
      onSent({
        ...optimistic(answer.message.id, answer.message.text ?? preview, authorName),
        type: "template",
      });
      setValues(template.parameters.map(() => ""));
    } catch (caught) {
      setError(caught);
    } finally {
      setBusy(false);
    }
  }

  const unavailable = list.filter((x) => !x.sendable);
  return (
    <form className="composer template-picker" onSubmit={send} data-testid="template-picker">
      <h3 className="small">{t("composer.template")}</h3>
      {templates.error !== undefined ? (
        <p className="field-error">{errorMessage(t, templates.error)}</p>
      ) : null}
      {templates.data && list.length === 0 ? (
        <p className="muted small" data-testid="template-none">
          {t("composer.templateNone")}
        </p>
      ) : null}
      <div className="template-grid">
        <div className="field">
          <label htmlFor={selectId}>{t("composer.templateName")}</label>
          <select
            id={selectId}
            data-testid="template-select"
            value={chosen}
            onChange={(event) => choose(event.target.value)}
          >
            <option value="">{t("composer.templateChoose")}</option>
            {list.map((x) => (
              <option
                key={keyOf(x)}
                value={keyOf(x)}
                disabled={!x.sendable}
                data-testid={x.sendable ? "template-option" : "template-option-unavailable"}
              >
                {x.sendable
                  ? `${x.name} (${x.language})`
                  : t("composer.templateUnavailable", {
                      name: x.name,
                      language: x.language,
                      status: x.status,
                      reason: x.reason ? `: ${x.reason}` : "",
                    })}
              </option>
            ))}
          </select>
        </div>
        {template?.parameters.map((p, i) => (
          <div className="field" key={`${p.component}-${p.name}`}>
            <label htmlFor={`${paramId}-${i}`}>
              {p.type === "text"
                ? t("composer.templateParam", { name: p.name })
                : t("composer.templateMedia", { type: p.type })}
            </label>
            <input
              id={`${paramId}-${i}`}
              data-testid="template-param"
              value={values[i] ?? ""}
              placeholder={p.example ?? ""}
              required
              onChange={(event) => setValues((old) => old.map((v, j) => (j === i ? event.target.value : v)))}
            />
          </div>
        ))}
      </div>
      {template ? (
        <div className="template-preview" data-testid="template-preview" aria-live="polite">
          <p className="small muted">
            {t("composer.templatePreview")} · {t("composer.templateCategory")}: {template.category}
          </p>
          {[
            fillTemplate(template.header, "header", template, values),
            fillTemplate(template.body, "body", template, values),
            template.footer,
          ]
            .filter(Boolean)
            .map((part) => (
              <p key={part}>{part}</p>
            ))}
          {template.buttons.length > 0 ? (
            <p className="small" data-testid="template-buttons">
              {t("composer.templateButtons")}: {template.buttons.map((b) => b.text).join(" · ")}
            </p>
          ) : null}
        </div>
      ) : null}
      {unavailable.length > 0 ? (
        <ul className="template-unavailable small muted" data-testid="template-unavailable">
          {unavailable.map((x) => (
            <li key={keyOf(x)}>
              {t("composer.templateUnavailable", {
                name: x.name,
                language: x.language,
                status: x.status,
                reason: x.reason ? `: ${x.reason}` : "",
              })}
            </li>
          ))}
        </ul>
      ) : null}
      <button
        type="submit"
        className="primary"
        data-testid="template-send"
        disabled={busy || !template || !complete}
      >
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
