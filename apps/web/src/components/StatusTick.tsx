import type { Message } from "../api";
import { hasKey, useI18n } from "../i18n";

const GLYPHS: Record<string, string> = {
  queued: "◷",
  sent: "✓",
  delivered: "✓✓",
  read: "✓✓",
  failed: "✗",
};

function failureReason(error: Message["error"]): string {
  if (!error) return "";
  if (typeof error === "string") return error;
  return [error.message, error.code !== undefined ? `(${error.code})` : ""].filter(Boolean).join(" ");
}

export function StatusTick({ message }: { message: Message }) {
  const { t } = useI18n();
  const status = message.status ?? "";
  const glyph = GLYPHS[status];
  if (message.direction !== "outbound" || !glyph) return null;
  const key = `tick.${status}`;
  const label = hasKey(key) ? t(key) : status;
  const reason = status === "failed" ? failureReason(message.error) : "";
  return (
    <span className={`tick tick-${status}`} data-testid="message-status" data-status={status}>
      <span aria-hidden="true">{glyph}</span>
      <span className="visually-hidden">{label}</span>
      {reason ? <span className="tick-reason">{reason}</span> : null}
    </span>
  );
}
