import { BANK_STAFF_ROLES } from "@kanal/contracts/roles";
import { type FormEvent, useState } from "react";
import { api, type Role, type TenantUser, type TenantUserInput } from "../../api";
import { Dialog } from "../../components/Dialog";
import { Async, Field, FormError, SelectField } from "../../components/ui";
import { useAction, useResource } from "../../hooks";
import { useI18n } from "../../i18n";
import { showToast } from "../../notify";

export function UsersSection({ tenant }: { tenant: string }) {
  const { t } = useI18n();
  const users = useResource(() => api.users(tenant), [tenant]);
  const [editing, setEditing] = useState<TenantUser | "new" | null>(null);

  return (
    <section aria-labelledby="users-title">
      <div className="section-header">
        <h2 id="users-title">{t("admin.users")}</h2>
        <button type="button" className="primary" data-testid="user-new" onClick={() => setEditing("new")}>
          {t("users.new")}
        </button>
      </div>
      <Async resource={users}>
        {(list) =>
          list.length === 0 ? (
            <p className="muted">{t("common.empty")}</p>
          ) : (
            <table className="table" data-testid="users-table">
              <thead>
                <tr>
                  <th scope="col">{t("users.name")}</th>
                  <th scope="col">{t("users.email")}</th>
                  <th scope="col">{t("users.role")}</th>
                  <th scope="col">{t("users.maxChats")}</th>
                  <th scope="col">{t("users.deputy")}</th>
                  <th scope="col">{t("users.advisorCode")}</th>
                  <th scope="col">
                    <span className="visually-hidden">{t("common.edit")}</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {list.map((user) => (
                  <tr key={user.id} data-testid="user-row">
                    <td>{user.name}</td>
                    <td>{user.email}</td>
                    <td>{t(`role.${user.role}`)}</td>
                    <td>{user.maxChats ?? t("common.none")}</td>
                    <td>{list.find((u) => u.id === user.deputyUserId)?.name ?? t("common.none")}</td>
                    <td>{user.advisorCode || t("common.none")}</td>
                    <td>
                      <button
                        type="button"
                        onClick={() => setEditing(user)}
                        aria-label={`${t("common.edit")}: ${user.name}`}
                      >
                        {t("common.edit")}
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
        <UserDialog
          tenant={tenant}
          user={editing === "new" ? null : editing}
          others={(users.data ?? []).filter((u) => editing === "new" || u.id !== editing.id)}
          onClose={() => setEditing(null)}
          onSaved={() => {
            setEditing(null);
            showToast(t("common.saved"), "success");
            void users.reload();
          }}
        />
      ) : null}
    </section>
  );
}

function UserDialog({
  tenant,
  user,
  others,
  onClose,
  onSaved,
}: {
  tenant: string;
  user: TenantUser | null;
  others: TenantUser[];
  onClose: () => void;
  onSaved: () => void;
}) {
  const { t } = useI18n();
  const [email, setEmail] = useState(user?.email ?? "");
  const [name, setName] = useState(user?.name ?? "");
  const [role, setRole] = useState<Role>(user?.role ?? "bank_agent");
  const [password, setPassword] = useState("");
  const [maxChats, setMaxChats] = useState(user?.maxChats != null ? String(user.maxChats) : "");
  const [deputyUserId, setDeputyUserId] = useState(user?.deputyUserId ?? "");
  const [advisorCode, setAdvisorCode] = useState(user?.advisorCode ?? "");
  const action = useAction();
  const fieldError = (path: string) => action.error?.fieldMessage(path);

  async function submit(event: FormEvent) {
    event.preventDefault();
    // The e-mail address is the sign-in name: set on creation, never changed by PATCH.
    const body: TenantUserInput = {
      ...(user ? {} : { email: email.trim() }),
      name: name.trim(),
      role,
      deputyUserId: deputyUserId || null,
      advisorCode: advisorCode.trim() || null,
    };
    // Empty means "the bank's default" (left out), not null.
    if (maxChats !== "") body.maxChats = Number(maxChats);
    if (password) body.password = password;
    const result = await action.run(() =>
      user ? api.updateUser(tenant, user.id, body) : api.createUser(tenant, body),
    );
    if (result.ok) onSaved();
  }

  return (
    <Dialog title={user ? t("users.editTitle") : t("users.new")} onClose={onClose} testId="user-dialog">
      <form className="form" onSubmit={submit} noValidate>
        <Field
          label={t("users.email")}
          type="email"
          testId="user-email"
          data-autofocus
          required
          value={email}
          readOnly={Boolean(user)}
          error={fieldError("email")}
          onChange={(event) => setEmail(event.target.value)}
        />
        <Field
          label={t("users.name")}
          testId="user-name"
          required
          value={name}
          error={fieldError("name")}
          onChange={(event) => setName(event.target.value)}
        />
        <SelectField
          label={t("users.role")}
          testId="user-role"
          value={role}
          error={fieldError("role")}
          onChange={(value) => setRole(value as Role)}
          options={BANK_STAFF_ROLES.map((r) => ({ value: r, label: t(`role.${r}`) }))}
        />
        <Field
          label={user ? t("users.passwordKeep") : t("users.password")}
          type="password"
          autoComplete="new-password"
          testId="user-password"
          required={!user}
          value={password}
          error={fieldError("password")}
          onChange={(event) => setPassword(event.target.value)}
        />
        <Field
          label={t("users.maxChats")}
          type="number"
          min={1}
          max={50}
          testId="user-max-chats"
          value={maxChats}
          error={fieldError("maxChats")}
          onChange={(event) => setMaxChats(event.target.value)}
        />
        <SelectField
          label={t("users.deputy")}
          testId="user-deputy"
          value={deputyUserId}
          error={fieldError("deputyUserId")}
          onChange={setDeputyUserId}
          options={[
            { value: "", label: t("common.none") },
            ...others.map((other) => ({ value: other.id, label: other.name })),
          ]}
        />
        <Field
          label={t("users.advisorCode")}
          testId="user-advisor-code"
          value={advisorCode}
          error={fieldError("advisorCode")}
          onChange={(event) => setAdvisorCode(event.target.value)}
        />
        <FormError error={action.error} />
        <div className="dialog-actions">
          <button type="button" onClick={onClose}>
            {t("common.cancel")}
          </button>
          <button type="submit" className="primary" data-testid="user-save" disabled={action.busy}>
            {t("common.save")}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
