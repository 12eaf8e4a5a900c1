import { useEffect, useRef } from "react";
import { api, type ConversationSummary, type Queue } from "../api";
import { Async } from "../components/ui";
import { useKanalEvents, useOnReconnect, useStreamState } from "../events";
import { formatMessageTime } from "../format";
import { useAction, useResource } from "../hooks";
import { hasKey, useI18n } from "../i18n";
import { showToast } from "../notify";
import { href, navigate } from "../router";
import { areasOf, useSession } from "../session";
import { DEFAULT_TIMEZONE, type TenantInfo, useTenantInfos } from "../tenants";
import { ConversationPane } from "./ConversationPane";

export function InboxPage({ tenant, conversationId }: { tenant?: string; conversationId?: string }) {
  const { t } = useI18n();
  const inbox = useResource(() => api.inbox(), []);
  const stream = useStreamState();
  const reloadTimer = useRef<number | undefined>(undefined);
  const mainRef = useRef<HTMLElement>(null);

  // Bursts of events (a busy morning) trigger one re-fetch, not one per event.
  const scheduleReload = () => {
    window.clearTimeout(reloadTimer.current);
    reloadTimer.current = window.setTimeout(() => void inbox.reload(), 250);
  };
  useEffect(() => () => window.clearTimeout(reloadTimer.current), []);
  useKanalEvents((event) => {
    if (event.type !== "message.status") scheduleReload();
  });
  useOnReconnect(() => void inbox.reload());

  const slugs = [
    ...(inbox.data?.conversations.map((c) => c.tenant) ?? []),
    ...(inbox.data?.queues.flatMap((q) => [q.tenant, ...q.oldest.map((c) => c.tenant)]) ?? []),
  ].filter(Boolean);
  const banks = useTenantInfos(slugs);
  const { state } = useSession();
  const multiBank =
    state.status === "authenticated" && (areasOf(state.me.memberships).ksc || new Set(slugs).size > 1);

  return (
    <div className="inbox">
      <nav className="inbox-list" aria-label={t("inbox.title")}>
        <div className="inbox-list-header">
          <h1>{t("inbox.title")}</h1>
          <span className={`stream stream-${stream}`} role="status" data-testid="stream-state">
            {stream === "live" ? t("inbox.live") : stream === "idle" ? "" : t("inbox.reconnecting")}
          </span>
        </div>
        <Async resource={inbox}>
          {(data) => (
            <>
              <h2 className="list-title">
                {t("inbox.mine")} ({data.conversations.length})
              </h2>
              {data.conversations.length === 0 ? <p className="muted">{t("inbox.empty")}</p> : null}
              <ul className="conversation-list" data-testid="inbox-list">
                {data.conversations.map((conversation) => (
                  <InboxItem
                    key={`${conversation.tenant}/${conversation.id}`}
                    conversation={conversation}
                    bank={banks.get(conversation.tenant)}
                    showBank={multiBank}
                    selected={conversation.tenant === tenant && conversation.id === conversationId}
                  />
                ))}
              </ul>
              {data.queues.length ? (
                <>
                  <h2 className="list-title">{t("inbox.queues")}</h2>
                  {data.queues.map((queue) => (
                    <QueueBlock
                      key={`${queue.tenant}/${queue.queue}`}
                      queue={queue}
                      banks={banks}
                      showBank={multiBank}
                      selected={{ tenant, conversationId }}
                      onTaken={() => void inbox.reload()}
                    />
                  ))}
                </>
              ) : null}
            </>
          )}
        </Async>
      </nav>
      <main className="inbox-detail" id="main" tabIndex={-1} ref={mainRef}>
        {tenant && conversationId ? (
          <ConversationPane
            key={`${tenant}/${conversationId}`}
            tenant={tenant}
            conversationId={conversationId}
            onInboxChanged={() => void inbox.reload()}
          />
        ) : (
          <p className="empty-state">{t("inbox.select")}</p>
        )}
      </main>
    </div>
  );
}

function InboxItem({
  conversation,
  bank,
  showBank,
  selected,
}: {
  conversation: ConversationSummary;
  bank: TenantInfo | undefined;
  showBank: boolean;
  selected: boolean;
}) {
  const { t, locale } = useI18n();
  const statusKey = `status.${conversation.status}`;
  const handledKey = `handledBy.${conversation.handledBy}`;
  return (
    <li>
      <a
        href={href(`/inbox/${conversation.tenant}/${conversation.id}`)}
        className={`inbox-item${selected ? " selected" : ""}`}
        aria-current={selected ? "page" : undefined}
        data-testid="inbox-item"
        data-conversation-id={conversation.id}
        data-tenant={conversation.tenant}
      >
        <span className="inbox-item-top">
          <strong className="inbox-item-name">
            {conversation.customer.name || conversation.customer.waId}
          </strong>
          <time className="small muted" dateTime={conversation.lastMessageAt ?? undefined}>
            {formatMessageTime(conversation.lastMessageAt, locale, bank?.timezone ?? DEFAULT_TIMEZONE)}
          </time>
        </span>
        {showBank ? (
          <span className="bank-label small" data-testid="inbox-item-bank">
            {t("inbox.bank", { bank: conversation.tenantName ?? bank?.name ?? conversation.tenant })}
          </span>
        ) : null}
        <span className="inbox-item-bottom small">
          <span>{conversation.topic || t("common.none")}</span>
          <span className="muted">
            {hasKey(statusKey) ? t(statusKey) : conversation.status}
            {" · "}
            {hasKey(handledKey) ? t(handledKey) : conversation.handledBy}
          </span>
        </span>
      </a>
    </li>
  );
}

function QueueBlock({
  queue,
  banks,
  showBank,
  selected,
  onTaken,
}: {
  queue: Queue;
  banks: Map<string, TenantInfo>;
  showBank: boolean;
  selected: { tenant: string | undefined; conversationId: string | undefined };
  onTaken: () => void;
}) {
  const { t } = useI18n();
  const { state } = useSession();
  const take = useAction();
  const queueKey = `inbox.queue.${queue.queue}`;
  const label = hasKey(queueKey) ? t(queueKey) : queue.queue;
  const bankName = queue.tenantName ?? banks.get(queue.tenant)?.name ?? queue.tenant;

  async function takeOver(conversation: ConversationSummary) {
    if (state.status !== "authenticated") return;
    const result = await take.run(() => api.take(conversation.tenant, conversation.id));
    if (result.ok) {
      onTaken();
      navigate(`/inbox/${conversation.tenant}/${conversation.id}`);
    } else {
      // 409: somebody else was quicker; the queue is stale either way.
      showToast(t(result.error.status === 409 ? "inbox.takenByOther" : "error.generic"), "error");
      onTaken();
    }
  }

  return (
    <section className="queue" data-testid="queue" data-queue={queue.queue} data-tenant={queue.tenant}>
      <h3 className="queue-title">
        {label}
        {bankName ? ` · ${bankName}` : ""}{" "}
        <span className="badge" data-testid="queue-count">
          {t("inbox.queueCount", { count: queue.count })}
        </span>
      </h3>
      {queue.oldest.length ? (
        <ul className="conversation-list">
          {queue.oldest.map((conversation) => (
            <li key={`${conversation.tenant}/${conversation.id}`} className="queue-item">
              <a
                href={href(`/inbox/${conversation.tenant}/${conversation.id}`)}
                className={`inbox-item${
                  selected.tenant === conversation.tenant && selected.conversationId === conversation.id
                    ? " selected"
                    : ""
                }`}
                data-testid="queue-item"
                data-conversation-id={conversation.id}
              >
                <strong>{conversation.customer.name || conversation.customer.waId}</strong>
                {showBank ? (
                  <span className="bank-label small">
                    {t("inbox.bank", {
                      bank:
                        conversation.tenantName ??
                        banks.get(conversation.tenant)?.name ??
                        conversation.tenant,
                    })}
                  </span>
                ) : null}
                <span className="small">{conversation.topic || t("common.none")}</span>
              </a>
              <button
                type="button"
                className="small-button"
                data-testid="queue-take"
                disabled={take.busy}
                onClick={() => void takeOver(conversation)}
              >
                {t("inbox.take")}
              </button>
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}
