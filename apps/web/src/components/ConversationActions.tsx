import { type FormEvent, useId, useState } from "react";
import { api, type Customer } from "../api";
import { useAction, useResource } from "../hooks";
import { useI18n } from "../i18n";
import { showToast } from "../notify";
import { Dialog } from "./Dialog";
import { FormError, TextAreaField } from "./ui";

type Open = "handover" | "callback" | "person" | "close" | null;

export function ConversationActions({
  tenant,
  conversationId,
  closed,
  onChanged,
}: {
  tenant: string;
  conversationId: string;
  closed: boolean;
  onChanged: () => void;
}) {
  const { t } = useI18n();
  const [open, setOpen] = useState<Open>(null);
  const done = (text: string) => {
    setOpen(null);
    showToast(text, "success");
    onChanged();
  };

  return (
    <section className="panel-section" aria-labelledby="actions-title">
      <h3 id="actions-title">{t("actions.title")}</h3>
      <div className="button-column">
        <button
          type="button"
          data-testid="action-handover"
          disabled={closed}
          onClick={() => setOpen("handover")}
        >
          {t("actions.handover")}
        </button>
        <button type="button" data-testid="action-callback" onClick={() => setOpen("callback")}>
          {t("actions.callback")}
        </button>
        <button type="button" data-testid="action-person-search" onClick={() => setOpen("person")}>
          {t("actions.personSearch")}
        </button>
        <button type="button" data-testid="action-close" disabled={closed} onClick={() => setOpen("close")}>
          {t("actions.close")}
        </button>
      </div>
      {open === "handover" ? (
        <HandoverDialog
          tenant={tenant}
          conversationId={conversationId}
          onClose={() => setOpen(null)}
          onDone={() => done(t("handover.done"))}
        />
      ) : null}
      {open === "callback" ? (
        <CallbackDialog
          tenant={tenant}
          conversationId={conversationId}
          onClose={() => setOpen(null)}
          onDone={() => done(t("callback.done"))}
        />
      ) : null}
      {open === "person" ? (
        <PersonSearchDialog
          tenant={tenant}
          conversationId={conversationId}
          onClose={() => setOpen(null)}
          onDone={(customer) => done(t("person.linked", { name: customer.name ?? customer.waId ?? "" }))}
        />
      ) : null}
      {open === "close" ? (
        <CloseDialog
          tenant={tenant}
          conversationId={conversationId}
          onClose={() => setOpen(null)}
          onDone={() => done(t("actions.done"))}
        />
      ) : null}
    </section>
  );
}

type DialogProps = { tenant: string; conversationId: string; onClose: () => void };

function HandoverDialog({ tenant, conversationId, onClose, onDone }: DialogProps & { onDone: () => void }) {
  const { t } = useI18n();
  const [target, setTarget] = useState<"bank" | "ksc" | "user">("bank");
  const [userId, setUserId] = useState("");
  const [note, setNote] = useState("");
  const action = useAction();
  const userFieldId = useId();
  // Agents may not be allowed to list users; then the dialog asks for an id instead.
  const users = useResource(() => api.users(tenant), [tenant]);

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (target === "user" && !userId.trim()) return;
    const base = target === "user" ? { toUserId: userId.trim() } : { toQueue: target };
    const ok = await action.run(() =>
      api.handover(tenant, conversationId, note.trim() ? { ...base, note: note.trim() } : base),
    );
    if (ok.ok) onDone();
  }

  const targets: { value: "bank" | "ksc" | "user"; label: string }[] = [
    { value: "bank", label: t("handover.toBank") },
    { value: "ksc", label: t("handover.toKsc") },
    { value: "user", label: t("handover.toUser") },
  ];

  return (
    <Dialog title={t("handover.title")} onClose={onClose} testId="handover-dialog">
      <form onSubmit={submit} className="form">
        <fieldset>
          <legend>{t("handover.target")}</legend>
          {targets.map((option, index) => (
            <label key={option.value} className="radio">
              <input
                type="radio"
                name="handover-target"
                value={option.value}
                data-testid={`handover-target-${option.value}`}
                data-autofocus={index === 0 ? true : undefined}
                checked={target === option.value}
                onChange={() => setTarget(option.value)}
              />
              {option.label}
            </label>
          ))}
        </fieldset>
        {target === "user" ? (
          <div className="field">
            <label htmlFor={userFieldId}>
              {users.data?.length ? t("handover.user") : t("handover.userId")}
            </label>
            {users.data?.length ? (
              <select
                id={userFieldId}
                data-testid="handover-user"
                value={userId}
                required
                onChange={(event) => setUserId(event.target.value)}
              >
                <option value="">{t("common.none")}</option>
                {users.data.map((user) => (
                  <option key={user.id} value={user.id}>
                    {user.name} ({t(`role.${user.role}`)})
                  </option>
                ))}
              </select>
            ) : (
              <input
                id={userFieldId}
                data-testid="handover-user"
                value={userId}
                required
                onChange={(event) => setUserId(event.target.value)}
              />
            )}
          </div>
        ) : null}
        <TextAreaField
          label={t("handover.note")}
          testId="handover-note"
          rows={3}
          value={note}
          onChange={(event) => setNote(event.target.value)}
        />
        <FormError error={action.error} />
        <div className="dialog-actions">
          <button type="button" onClick={onClose}>
            {t("common.cancel")}
          </button>
          <button type="submit" className="primary" data-testid="handover-submit" disabled={action.busy}>
            {t("handover.submit")}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function CallbackDialog({ tenant, conversationId, onClose, onDone }: DialogProps & { onDone: () => void }) {
  const { t } = useI18n();
  const [note, setNote] = useState("");
  const [preferred, setPreferred] = useState("");
  const action = useAction();
  const timeId = useId();

  async function submit(event: FormEvent) {
    event.preventDefault();
    // datetime-local is the agent's wall clock; agents sit in the bank's zone.
    const preferredTime = preferred ? new Date(preferred).toISOString() : undefined;
    const ok = await action.run(() =>
      api.callback(tenant, conversationId, preferredTime ? { note, preferredTime } : { note }),
    );
    if (ok.ok) onDone();
  }

  return (
    <Dialog title={t("callback.title")} onClose={onClose} testId="callback-dialog">
      <form onSubmit={submit} className="form">
        <TextAreaField
          label={t("callback.note")}
          testId="callback-note"
          data-autofocus
          rows={3}
          required
          value={note}
          onChange={(event) => setNote(event.target.value)}
        />
        <div className="field">
          <label htmlFor={timeId}>{t("callback.preferredTime")}</label>
          <input
            id={timeId}
            type="datetime-local"
            data-testid="callback-time"
            value={preferred}
            onChange={(event) => setPreferred(event.target.value)}
          />
        </div>
        <FormError error={action.error} />
        <div className="dialog-actions">
          <button type="button" onClick={onClose}>
            {t("common.cancel")}
          </button>
          <button
            type="submit"
            className="primary"
            data-testid="callback-submit"
            disabled={action.busy || !note.trim()}
          >
            {t("callback.submit")}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function PersonSearchDialog({
  tenant,
  conversationId,
  onClose,
  onDone,
}: DialogProps & { onDone: (customer: Customer) => void }) {
  const { t } = useI18n();
  const [query, setQuery] = useState("");
  const [results, setResults] = useState<Customer[] | null>(null);
  const search = useAction();
  const link = useAction();
  const queryId = useId();

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (!query.trim()) return;
    const found = await search.run(() => api.searchCustomers(tenant, query.trim()));
    if (found.ok) setResults(found.value);
  }

  async function choose(customer: Customer) {
    const ok = await link.run(() => api.linkCustomer(tenant, conversationId, customer.id));
    if (ok.ok) onDone(customer);
  }

  return (
    <Dialog title={t("person.title")} onClose={onClose} testId="person-dialog">
      <form onSubmit={submit} className="form search-row">
        <div className="field">
          <label htmlFor={queryId}>{t("person.query")}</label>
          <input
            id={queryId}
            type="search"
            data-testid="person-query"
            data-autofocus
            value={query}
            onChange={(event) => setQuery(event.target.value)}
          />
        </div>
        <button type="submit" data-testid="person-search" disabled={search.busy}>
          {t("common.search")}
        </button>
      </form>
      <FormError error={search.error ?? link.error} />
      {search.busy ? <p role="status">{t("common.loading")}</p> : null}
      {results ? (
        results.length === 0 ? (
          <p role="status">{t("person.noResults")}</p>
        ) : (
          <ul className="result-list" aria-live="polite">
            {results.map((customer) => (
              <li key={customer.id} data-testid="person-result">
                <span>
                  <strong>{customer.name}</strong> <span className="muted">{customer.waId}</span>
                  {customer.externalRef ? <span className="muted"> · {customer.externalRef}</span> : null}
                </span>
                <button
                  type="button"
                  data-testid="person-link"
                  disabled={link.busy}
                  onClick={() => void choose(customer)}
                >
                  {t("person.link")}
                </button>
              </li>
            ))}
          </ul>
        )
      ) : null}
    </Dialog>
  );
}

function CloseDialog({ tenant, conversationId, onClose, onDone }: DialogProps & { onDone: () => void }) {
  const { t } = useI18n();
  const action = useAction();
  return (
    <Dialog title={t("actions.close")} onClose={onClose} testId="close-dialog">
      <p>{t("actions.closeConfirm")}</p>
      <FormError error={action.error} />
      <div className="dialog-actions">
        <button type="button" data-autofocus onClick={onClose}>
          {t("common.cancel")}
        </button>
        <button
          type="button"
          className="danger"
          data-testid="close-confirm"
          disabled={action.busy}
          onClick={async () => {
            const ok = await action.run(() => api.close(tenant, conversationId));
            if (ok.ok) onDone();
          }}
        >
          {t("actions.close")}
        </button>
      </div>
    </Dialog>
  );
}
