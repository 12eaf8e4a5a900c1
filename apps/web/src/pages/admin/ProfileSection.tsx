import { type FormEvent, useState } from "react";
import { api, type WhatsAppProfile } from "../../api";
import { Async, Field, FormError, TextAreaField } from "../../components/ui";
import { useAction, useResource } from "../../hooks";
import { useI18n } from "../../i18n";
import { showToast } from "../../notify";

// WhatsApp allows at most two websites on a business profile.
const MAX_WEBSITES = 2;

export function ProfileSection({ tenant }: { tenant: string }) {
  const { t } = useI18n();
  const profile = useResource(() => api.profile(tenant), [tenant]);
  return (
    <section aria-labelledby="profile-title">
      <h2 id="profile-title">{t("admin.profile")}</h2>
      <Async resource={profile}>{(initial) => <ProfileForm tenant={tenant} initial={initial} />}</Async>
    </section>
  );
}

function ProfileForm({ tenant, initial }: { tenant: string; initial: WhatsAppProfile }) {
  const { t } = useI18n();
  const [about, setAbout] = useState(initial.about ?? "");
  const [address, setAddress] = useState(initial.address ?? "");
  const [description, setDescription] = useState(initial.description ?? "");
  const [email, setEmail] = useState(initial.email ?? "");
  const [websites, setWebsites] = useState<string[]>(() => {
    const list = [...(initial.websites ?? [])].slice(0, MAX_WEBSITES);
    while (list.length < MAX_WEBSITES) list.push("");
    return list;
  });
  const action = useAction();
  const fieldError = (path: string) => action.error?.fieldMessage(path);

  async function submit(event: FormEvent) {
    event.preventDefault();
    const body: WhatsAppProfile = {
      about,
      address,
      description,
      email,
      websites: websites.map((w) => w.trim()).filter(Boolean),
    };
    const result = await action.run(() => api.saveProfile(tenant, body));
    if (result.ok) showToast(t("common.saved"), "success");
  }

  return (
    <form className="form" onSubmit={submit} noValidate data-testid="profile-form">
      <Field
        label={t("profile.about")}
        testId="profile-about"
        maxLength={139}
        value={about}
        error={fieldError("about")}
        onChange={(event) => setAbout(event.target.value)}
      />
      <Field
        label={t("profile.address")}
        testId="profile-address"
        maxLength={256}
        value={address}
        error={fieldError("address")}
        onChange={(event) => setAddress(event.target.value)}
      />
      <TextAreaField
        label={t("profile.description")}
        testId="profile-description"
        maxLength={512}
        rows={4}
        value={description}
        error={fieldError("description")}
        onChange={(event) => setDescription(event.target.value)}
      />
      <Field
        label={t("profile.email")}
        type="email"
        testId="profile-email"
        maxLength={128}
        value={email}
        error={fieldError("email")}
        onChange={(event) => setEmail(event.target.value)}
      />
      <fieldset>
        <legend>{t("profile.websites")}</legend>
        {websites.map((website, index) => (
          <Field
            // biome-ignore lint/suspicious/noArrayIndexKey: fixed two slots
            key={index}
            label={t("profile.website", { n: index + 1 })}
            type="url"
            testId={`profile-website-${index}`}
            value={website}
            error={fieldError(`websites.${index}`)}
            onChange={(event) => setWebsites(websites.map((w, i) => (i === index ? event.target.value : w)))}
          />
        ))}
      </fieldset>
      <FormError error={action.error} />
      <button type="submit" className="primary" data-testid="profile-save" disabled={action.busy}>
        {t("common.save")}
      </button>
    </form>
  );
}
