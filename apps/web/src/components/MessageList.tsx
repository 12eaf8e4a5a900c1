import { useLayoutEffect, useRef } from "react";
import type { HistoryEntry, Message } from "../api";
import { formatMessageTime } from "../format";
import { useI18n } from "../i18n";
import { StatusTick } from "./StatusTick";

function MessageBubble({ message, timeZone }: { message: Message; timeZone: string }) {
  const { t, locale } = useI18n();
  const media = message.media;
  return (
    <li
      className={`message message-${message.direction}${message.status === "failed" ? " message-failed" : ""}`}
      data-testid="message"
      data-direction={message.direction}
      data-message-id={message.id}
    >
      <div className="message-meta">
        <span className="message-author">
          {message.direction === "inbound" ? t("conv.customerSays") : (message.authorName ?? t("conv.you"))}
        </span>
        <time dateTime={message.createdAt}>{formatMessageTime(message.createdAt, locale, timeZone)}</time>
      </div>
      {message.text ? <p className="message-text">{message.text}</p> : null}
      {media ? (
        <p className="message-media">
          {media.url ? (
            <a href={media.url} target="_blank" rel="noopener noreferrer" data-testid="message-media">
              📎 {media.filename ?? media.mimeType ?? t("conv.media")}
            </a>
          ) : (
            <span>📎 {media.filename ?? media.mimeType ?? message.type ?? t("conv.media")}</span>
          )}
          {media.caption ? <span className="media-caption"> {media.caption}</span> : null}
        </p>
      ) : !message.text && message.type ? (
        <p className="message-text muted">[{message.type}]</p>
      ) : null}
      <StatusTick message={message} />
    </li>
  );
}

function flattenHistory(history: readonly HistoryEntry[] | undefined): Message[] {
  if (!history) return [];
  return history.flatMap((entry) =>
    "messages" in entry && Array.isArray(entry.messages) ? entry.messages : [entry as Message],
  );
}

/**
 * Messages oldest first. Stays pinned to the bottom while the reader is there, and leaves the
 * scroll position alone when they scrolled up to read older messages.
 */
export function MessageList({
  messages,
  history,
  timeZone,
}: {
  messages: readonly Message[];
  history?: readonly HistoryEntry[] | undefined;
  timeZone: string;
}) {
  const { t } = useI18n();
  const scroller = useRef<HTMLDivElement>(null);
  const pinned = useRef(true);
  const earlier = flattenHistory(history);
  const lastId = messages.at(-1)?.id;
  const lastStatus = messages.at(-1)?.status;

  // biome-ignore lint/correctness/useExhaustiveDependencies: re-pin when the list or last status changes
  useLayoutEffect(() => {
    const element = scroller.current;
    if (element && pinned.current) element.scrollTop = element.scrollHeight;
  }, [messages.length, lastId, lastStatus]);

  return (
    <div
      className="message-scroller"
      ref={scroller}
      onScroll={(event) => {
        const element = event.currentTarget;
        pinned.current = element.scrollHeight - element.scrollTop - element.clientHeight < 40;
      }}
      // Focusable so keyboard users can scroll the history.
      // biome-ignore lint/a11y/noNoninteractiveTabindex: scrollable region must be reachable by keyboard
      tabIndex={0}
      role="log"
      aria-label={t("conv.messages")}
      aria-live="polite"
      data-testid="message-list"
    >
      {earlier.length ? (
        <details className="history">
          <summary>
            {t("conv.history")} ({earlier.length})
          </summary>
          <ol className="messages">
            {earlier.map((message) => (
              <MessageBubble key={`h-${message.id}`} message={message} timeZone={timeZone} />
            ))}
          </ol>
        </details>
      ) : null}
      {messages.length === 0 ? <p className="muted">{t("conv.noMessages")}</p> : null}
      <ol className="messages">
        {messages.map((message) => (
          <MessageBubble key={message.id} message={message} timeZone={timeZone} />
        ))}
      </ol>
    </div>
  );
}
