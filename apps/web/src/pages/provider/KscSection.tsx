import { type FormEvent, useState } from "react";
import { api } from "../../api";
import { Async, Field, FormError, SelectField } from "../../components/ui";
import { useAction, useResource } from "../../hooks";
import { useI18n } from "../../i18n";
import { showToast } from "../../notify";

export function KscSection() {
  const { t } = useI18n();
  const orgs = useResource(() => api.kscOrgs(), []);
  const [slug, setSlug] = useState("");
  const [name, setName] = useState("");
  const createOrg = useAction();

  const [org, setOrg] = useState("");
  const [email, setEmail] = useState("");
  const [agentName, setAgentName] = useState("");
  const [password, setPassword] = useState("");
  const [maxChats, setMaxChats] = useState("");
  const createAgent = useAction();

  async function submitOrg(event: FormEvent) {
    event.preventDefault();
    const result = await createOrg.run(() => api.createKscOrg({ slug: slug.trim(), name: name.trim() }));
    if (result.ok) {
      setSlug("");
      setName("");
      showToast(t("common.saved"), "success");
      void orgs.reload();
    }
  }

  async function submitAgent(event: FormEvent) {
    event.preventDefault();
    const chosen = org || orgs.data?.[0]?.slug;
    if (!chosen) return;
    const body = {
      email: email.trim(),
      name: agentName.trim(),
      password,
      ...(maxChats ? { maxChats: Number(maxChats) } : {}),
    };
    const result = await createAgent.run(() => api.createKscAgent(chosen, body));
    if (result.ok) {
      setEmail("");
      setAgentName("");
      setPassword("");
      setMaxChats("");
      showToast(t("ksc.agentCreated"), "success");
    }
  }

  return (
    <section aria-labelledby="ksc-title">
      <h2 id="ksc-title">{t("provider.ksc")}</h2>
      <Async resource={orgs}>
        {(list) =>
          list.length === 0 ? (
            <p className="muted">{t("common.empty")}</p>
          ) : (
            <table className="table" data-testid="ksc-table">
              <thead>
                <tr>
                  <th scope="col">{t("ksc.slug")}</th>
                  <th scope="col">{t("ksc.name")}</th>
                </tr>
              </thead>
              <tbody>
                {list.map((item) => (
                  <tr key={item.slug} data-testid="ksc-row">
                    <td>
                      <code>{item.slug}</code>
                    </td>
                    <td>{item.name}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Async>

      <h3>{t("ksc.new")}</h3>
      <form className="form" onSubmit={submitOrg} noValidate>
        <Field
          label={t("ksc.slug")}
          testId="ksc-slug"
          required
          value={slug}
          error={createOrg.error?.fieldMessage("slug")}
          onChange={(event) => setSlug(event.target.value)}
        />
        <Field
          label={t("ksc.name")}
          testId="ksc-name"
          required
          value={name}
          error={createOrg.error?.fieldMessage("name")}
          onChange={(event) => setName(event.target.value)}
        />
        <FormError error={createOrg.error} />
        <button type="submit" className="primary" data-testid="ksc-create" disabled={createOrg.busy}>
          {t("common.create")}
        </button>
      </form>

      <h3>{t("ksc.agents")}</h3>
      <form className="form" onSubmit={submitAgent} noValidate>
        <SelectField
          label={t("ksc.org")}
          testId="ksc-agent-org"
          value={org || orgs.data?.[0]?.slug || ""}
          onChange={setOrg}
          options={(orgs.data ?? []).map((item) => ({ value: item.slug, label: item.name }))}
        />
        <Field
          label={t("users.email")}
          type="email"
          testId="ksc-agent-email"
          required
          value={email}
          error={createAgent.error?.fieldMessage("email")}
          onChange={(event) => setEmail(event.target.value)}
        />
        <Field
          label={t("users.name")}
          testId="ksc-agent-name"
          required
          value={agentName}
          error={createAgent.error?.fieldMessage("name")}
          onChange={(event) => setAgentName(event.target.value)}
        />
        <Field
          label={t("users.password")}
          type="password"
          autoComplete="new-password"
          testId="ksc-agent-password"
          required
          value={password}
          error={createAgent.error?.fieldMessage("password")}
          onChange={(event) => setPassword(event.target.value)}
        />
        <Field
          label={t("users.maxChats")}
          type="number"
          min={1}
          testId="ksc-agent-max-chats"
          value={maxChats}
          error={createAgent.error?.fieldMessage("maxChats")}
          onChange={(event) => setMaxChats(event.target.value)}
        />
        <FormError error={createAgent.error} />
        <button
          type="submit"
          className="primary"
          data-testid="ksc-agent-create"
          disabled={createAgent.busy || !orgs.data?.length}
        >
          {t("common.create")}
        </button>
      </form>
    </section>
  );
}
