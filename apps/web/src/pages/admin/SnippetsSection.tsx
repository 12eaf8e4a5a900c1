import { type FormEvent, useState } from "react";
import { api, type Snippet } from "../../api";
import { Dialog } from "../../components/Dialog";
import { Async, Field, FormError, TextAreaField } from "../../components/ui";
import { useAction, useResource } from "../../hooks";
import { useI18n } from "../../i18n";
import { showToast } from "../../notify";

export function SnippetsSection({ tenant }: { tenant: string }) {
  const { t } = useI18n();
  const snippets = useResource(() => api.snippets(tenant), [tenant]);
  const [editing, setEditing] = useState<Snippet | "new" | null>(null);
  const [deleting, setDeleting] = useState<Snippet | null>(null);
  const remove = useAction();

  return (
    <section aria-labelledby="snippets-title">
      <div className="section-header">
        <h2 id="snippets-title">{t("admin.snippets")}</h2>
        <button type="button" className="primary" data-testid="snippet-new" onClick={() => setEditing("new")}>
          {t("snippets.new")}
        </button>
      </div>
      <Async resource={snippets}>
        {(list) =>
          list.length === 0 ? (
            <p className="muted">{t("common.empty")}</p>
          ) : (
            <table className="table" data-testid="snippets-table">
              <thead>
                <tr>
                  <th scope="col">{t("snippets.shortcut")}</th>
                  <th scope="col">{t("snippets.title")}</th>
                  <th scope="col">{t("snippets.category")}</th>
                  <th scope="col">{t("snippets.body")}</th>
                  <th scope="col">
                    <span className="visually-hidden">{t("common.edit")}</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {list.map((snippet) => (
                  <tr key={snippet.id} data-testid="snippet-row">
                    <td>
                      <code>/{snippet.shortcut.replace(/^\//, "")}</code>
                    </td>
                    <td>{snippet.title}</td>
                    <td>{snippet.category || t("common.none")}</td>
                    <td className="clip">{snippet.body}</td>
                    <td className="nowrap">
                      <button type="button" onClick={() => setEditing(snippet)}>
                        {t("common.edit")}
                      </button>{" "}
                      <button type="button" className="danger" onClick={() => setDeleting(snippet)}>
                        {t("common.delete")}
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Async>
      {editing ? (
        <SnippetDialog
          tenant={tenant}
          snippet={editing === "new" ? null : editing}
          onClose={() => setEditing(null)}
          onSaved={() => {
            setEditing(null);
            showToast(t("common.saved"), "success");
            void snippets.reload();
          }}
        />
      ) : null}
      {deleting ? (
        <Dialog title={t("common.delete")} onClose={() => setDeleting(null)}>
          <p>
            {t("common.confirmDelete")} <strong>{deleting.title}</strong>
          </p>
          <FormError error={remove.error} />
          <div className="dialog-actions">
            <button type="button" data-autofocus onClick={() => setDeleting(null)}>
              {t("common.cancel")}
            </button>
            <button
              type="button"
              className="danger"
              data-testid="snippet-delete-confirm"
              disabled={remove.busy}
              onClick={async () => {
                const result = await remove.run(() => api.deleteSnippet(tenant, deleting.id));
                if (result.ok) {
                  setDeleting(null);
                  void snippets.reload();
                }
              }}
            >
              {t("common.delete")}
            </button>
          </div>
        </Dialog>
      ) : null}
    </section>
  );
}

function SnippetDialog({
  tenant,
  snippet,
  onClose,
  onSaved,
}: {
  tenant: string;
  snippet: Snippet | null;
  onClose: () => void;
  onSaved: () => void;
}) {
  const { t } = useI18n();
  const [shortcut, setShortcut] = useState(snippet?.shortcut ?? "");
  const [title, setTitle] = useState(snippet?.title ?? "");
  const [body, setBody] = useState(snippet?.body ?? "");
  const [category, setCategory] = useState(snippet?.category ?? "");
  const action = useAction();
  const fieldError = (path: string) => action.error?.fieldMessage(path);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const input = {
      shortcut: shortcut.trim().replace(/^\//, ""),
      title: title.trim(),
      body,
      ...(category.trim() ? { category: category.trim() } : {}),
    };
    const result = await action.run(() =>
      snippet ? api.updateSnippet(tenant, snippet.id, input) : api.createSnippet(tenant, input),
    );
    if (result.ok) onSaved();
  }

  return (
    <Dialog
      title={snippet ? t("snippets.editTitle") : t("snippets.new")}
      onClose={onClose}
      testId="snippet-dialog"
    >
      <form className="form" onSubmit={submit} noValidate>
        <Field
          label={t("snippets.shortcut")}
          testId="snippet-shortcut"
          data-autofocus
          required
          value={shortcut}
          error={fieldError("shortcut")}
          onChange={(event) => setShortcut(event.target.value)}
        />
        <Field
          label={t("snippets.title")}
          testId="snippet-title"
          required
          value={title}
          error={fieldError("title")}
          onChange={(event) => setTitle(event.target.value)}
        />
        <Field
          label={t("snippets.category")}
          testId="snippet-category"
          value={category}
          error={fieldError("category")}
          onChange={(event) => setCategory(event.target.value)}
        />
        <TextAreaField
          label={t("snippets.body")}
          hint={t("snippets.variables")}
          testId="snippet-body"
          rows={5}
          required
          value={body}
          error={fieldError("body")}
          onChange={(event) => setBody(event.target.value)}
        />
        <FormError error={action.error} />
        <div className="dialog-actions">
          <button type="button" onClick={onClose}>
            {t("common.cancel")}
          </button>
          <button type="submit" className="primary" data-testid="snippet-save" disabled={action.busy}>
            {t("common.save")}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
