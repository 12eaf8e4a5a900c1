import { useState } from "react";
import { CheckboxField, SelectField } from "../components/ui";
import { LANGS, type Lang, useI18n } from "../i18n";
import {
  notificationState,
  playChime,
  requestNotificationPermission,
  setSoundMuted,
  useSoundMuted,
} from "../notify";

export function SettingsPage() {
  const { t, lang, setLang } = useI18n();
  const muted = useSoundMuted();
  const [permission, setPermission] = useState(notificationState);

  const permissionText =
    permission === "granted"
      ? t("settings.notificationsGranted")
      : permission === "denied"
        ? t("settings.notificationsDenied")
        : permission === "unsupported"
          ? t("settings.notificationsUnsupported")
          : "";

  return (
    <main className="page narrow" id="main" tabIndex={-1}>
      <h1>{t("settings.title")}</h1>
      <SelectField
        label={t("settings.language")}
        value={lang}
        onChange={(value) => setLang(value as Lang)}
        options={LANGS.map((l) => ({ value: l, label: l === "de" ? "Deutsch" : "English" }))}
      />
      <CheckboxField
        label={t("settings.sound")}
        checked={!muted}
        testId="setting-sound"
        onChange={(checked) => setSoundMuted(!checked)}
      />
      <p>
        <button type="button" onClick={() => playChime(true)}>
          {t("settings.testSound")}
        </button>
      </p>
      <h2>{t("settings.notifications")}</h2>
      {permission === "default" ? (
        <button
          type="button"
          data-testid="setting-notifications"
          onClick={() => void requestNotificationPermission().then(setPermission)}
        >
          {t("settings.notificationsAllow")}
        </button>
      ) : (
        <p>{permissionText}</p>
      )}
    </main>
  );
}
