import { useState } from "react";
import {
  api,
  type ConversationDetail,
  type ConversationView,
  type Guidance,
  type Message,
  type Routing,
} from "../api";
import { Composer, TemplatePicker } from "../components/Composer";
import { ConversationActions } from "../components/ConversationActions";
import { MessageList } from "../components/MessageList";
import { Async } from "../components/ui";
import { useKanalEvents, useOnReconnect } from "../events";
import { formatCountdown, formatDateTime, WINDOW_MS } from "../format";
import { useNow, useResource } from "../hooks";
import { hasKey, useI18n } from "../i18n";
import { useSession } from "../session";
import { useTenantInfo } from "../tenants";

function upsertMessage(messages: readonly Message[], message: Message): Message[] {
  const index = messages.findIndex((m) => m.id === message.id);
  if (index < 0) return [...messages, message];
  const next = [...messages];
  next[index] = { ...next[index], ...message };
  return next;
}

/** When the free-form window ends: the server's value, else 24 h after the last customer message. */
function windowEnd(conversation: ConversationDetail, messages: readonly Message[]): number | null {
  if (conversation.windowExpiresAt) return new Date(conversation.windowExpiresAt).getTime();
  const lastInbound = messages.filter((m) => m.direction === "inbound").at(-1);
  return lastInbound ? new Date(lastInbound.createdAt).getTime() + WINDOW_MS : null;
}

export function ConversationPane({
  tenant,
  conversationId,
  onInboxChanged,
}: {
  tenant: string;
  conversationId: string;
  /** After my own handover or close: no event tells me (I did it), so the list re-fetches. */
  onInboxChanged?: () => void;
}) {
  const resource = useResource(() => api.conversation(tenant, conversationId), [tenant, conversationId]);
  // Guidance comes from the rule store; without it (older bank, no access) the chat still works.
  const guidance = useResource(
    () =>
      api
        .guidance(tenant, conversationId)
        .then((answer) => answer.guidance)
        .catch(() => null),
    [tenant, conversationId],
  );
  const { setData } = resource;
  const reload = async () => {
    await Promise.all([resource.reload(), guidance.reload()]);
  };

  useKanalEvents((event) => {
    const data = event.data;
    if (data.tenant !== tenant || data.conversationId !== conversationId) return;
    if (event.type === "message.status") {
      const { messageId, status } = event.data;
      setData((view) => {
        // A failure's reason comes with the message itself.
        if (status === "failed" || !view?.messages.some((m) => m.id === messageId)) {
          void reload();
          return view;
        }
        return { ...view, messages: view.messages.map((m) => (m.id === messageId ? { ...m, status } : m)) };
      });
    } else {
      // A new message (which also moves the 24-hour window), an assignment or a change: the server's view.
      void reload();
    }
  });
  useOnReconnect(() => void reload());

  return (
    <Async resource={resource}>
      {(view) => (
        <ConversationBody
          tenant={tenant}
          view={view}
          guidance={guidance.data ?? null}
          onSent={(message) =>
            setData(
              (current) => current && { ...current, messages: upsertMessage(current.messages, message) },
            )
          }
          onChanged={() => {
            void reload();
            onInboxChanged?.();
          }}
        />
      )}
    </Async>
  );
}

function ConversationBody({
  tenant,
  view,
  guidance,
  onSent,
  onChanged,
}: {
  tenant: string;
  view: ConversationView;
  guidance: Guidance | null;
  onSent: (message: Message) => void;
  onChanged: () => void;
}) {
  const { t } = useI18n();
  const { state } = useSession();
  const bank = useTenantInfo(tenant);
  const now = useNow(1000);
  const [refusedWindow, setRefusedWindow] = useState(false);
  const { conversation, messages } = view;
  const agentName = state.status === "authenticated" ? state.me.user.name : "";
  const customerLabel = conversation.customer.name || conversation.customer.waId || "";
  const topic = conversation.topic || (typeof guidance?.topic === "string" ? guidance.topic : null);
  const end = windowEnd(conversation, messages);
  const windowOpen = end === null ? true : end > now;
  const closed = conversation.status === "closed";
  const statusKey = `status.${conversation.status}`;
  const handledKey = `handledBy.${conversation.handledBy}`;

  return (
    <div className="conversation" data-testid="conversation" data-conversation-id={conversation.id}>
      <div className="conversation-main">
        <header className="conversation-header">
          <h2>{t("conv.title", { name: customerLabel })}</h2>
          <span className="bank-label" data-testid="conversation-bank">
            {bank.name}
          </span>
          <span className={`badge badge-${conversation.status}`}>
            {hasKey(statusKey) ? t(statusKey) : conversation.status}
          </span>
          <span
            className={`window ${windowOpen ? "window-open" : "window-closed"}`}
            data-testid="window-countdown"
            data-open={windowOpen}
          >
            {t("conv.window")}:{" "}
            {end === null
              ? t("common.none")
              : windowOpen
                ? t("conv.windowOpen", { time: formatCountdown(end - now) })
                : t("conv.windowClosed")}
          </span>
        </header>
        <MessageList messages={messages} history={view.history} timeZone={bank.timezone} />
        {closed ? <p className="notice">{t("composer.closed")}</p> : null}
        {!windowOpen || refusedWindow || closed ? (
          <TemplatePicker
            tenant={tenant}
            conversationId={conversation.id}
            onSent={onSent}
            authorName={agentName}
          />
        ) : null}
        {windowOpen && !closed ? (
          <Composer
            tenant={tenant}
            conversationId={conversation.id}
            context={{ customerName: conversation.customer.name ?? "", agentName, bankName: bank.name }}
            onSent={onSent}
            onWindowClosed={() => setRefusedWindow(true)}
          />
        ) : null}
      </div>
      <aside className="side-panel" aria-label={t("conv.details")} data-testid="conversation-details">
        <section className="panel-section">
          <h3>{t("conv.customer")}</h3>
          <dl>
            <dt>{t("conv.customer")}</dt>
            <dd data-testid="customer-name">{conversation.customer.name || t("common.none")}</dd>
            <dt>{t("conv.phone")}</dt>
            <dd>{conversation.customer.waId}</dd>
            <dt>{t("conv.handledBy")}</dt>
            <dd>{hasKey(handledKey) ? t(handledKey) : conversation.handledBy}</dd>
            <dt>{t("conv.topic")}</dt>
            <dd data-testid="conversation-topic">{topic || t("common.none")}</dd>
          </dl>
        </section>
        <section className="panel-section" data-testid="routing-panel">
          <h3>{t("conv.routing")}</h3>
          <RoutingReason routing={conversation.routing ?? null} timeZone={bank.timezone} />
        </section>
        {guidance ? <GuidancePanel guidance={guidance} /> : null}
        <ConversationActions
          tenant={tenant}
          conversationId={conversation.id}
          closed={closed}
          onChanged={onChanged}
        />
      </aside>
    </div>
  );
}

type Labelled = { label?: unknown; labelEn?: unknown };

/** The rule store's guidance: what the agent may do on this topic, in the person's language. */
function GuidancePanel({ guidance }: { guidance: Guidance }) {
  const { t, lang } = useI18n();
  const label = (value: unknown) => {
    if (typeof value !== "object" || value === null) return "";
    const v = value as Labelled;
    const text = lang === "en" && typeof v.labelEn === "string" ? v.labelEn : v.label;
    return typeof text === "string" ? text : "";
  };
  const list = (value: unknown) => (Array.isArray(value) ? value.map(label).filter(Boolean).join(", ") : "");
  const snippets = Array.isArray(guidance.allowedSnippets)
    ? guidance.allowedSnippets
        .map((s) =>
          typeof s === "object" && s !== null ? String((s as { shortcut?: unknown }).shortcut ?? "") : "",
        )
        .filter(Boolean)
        .join(", ")
    : "";
  const forbidden = list(guidance.forbiddenDataClasses);
  return (
    <section className="panel-section guidance" data-testid="guidance-panel">
      <h3>{t("conv.guidance")}</h3>
      {guidance.mustHandOver === true ? (
        <p className="notice" data-testid="guidance-must-hand-over">
          {t("guidance.mustHandOver")}
        </p>
      ) : null}
      {typeof guidance.guidance === "string" && guidance.guidance ? <p>{guidance.guidance}</p> : null}
      <dl>
        <dt>{t("guidance.action")}</dt>
        <dd data-testid="guidance-action">{label(guidance.action) || t("common.none")}</dd>
        <dt>{t("guidance.handling")}</dt>
        <dd>{label(guidance.handling) || t("common.none")}</dd>
        <dt>{t("guidance.freeText")}</dt>
        <dd>{guidance.freeTextAllowed === false ? t("common.no") : t("common.yes")}</dd>
        {snippets ? (
          <>
            <dt>{t("guidance.snippets")}</dt>
            <dd>{snippets}</dd>
          </>
        ) : null}
        {forbidden ? (
          <>
            <dt>{t("guidance.forbidden")}</dt>
            <dd>{forbidden}</dd>
          </>
        ) : null}
      </dl>
    </section>
  );
}

/**
 * Why the chat came to this person: the routing decision's reason in the reader's language, the rule
 * and when it was decided. The candidates and target ids are for the audit trail, not the agent.
 */
function RoutingReason({ routing, timeZone }: { routing: Routing | null; timeZone: string }) {
  const { t, lang, locale } = useI18n();
  if (!routing) return <p className="muted">{t("common.none")}</p>;
  const text = (key: string) => (typeof routing[key] === "string" ? (routing[key] as string) : "");
  const reason = (lang === "de" && text("reasonDe")) || text("reason");
  const modeKey = `routing.mode.${text("mode")}`;
  return (
    <dl>
      <dt>{t("conv.routingReason")}</dt>
      <dd data-testid="routing-reason">{reason || t("common.none")}</dd>
      {text("mode") ? (
        <>
          <dt>{t("routing.mode")}</dt>
          <dd>{hasKey(modeKey) ? t(modeKey) : text("mode")}</dd>
        </>
      ) : null}
      {text("rule") ? (
        <>
          <dt>{t("conv.rule")}</dt>
          <dd>
            <code className="small">{text("rule")}</code>
          </dd>
        </>
      ) : null}
      {text("decidedAt") ? (
        <>
          <dt>{t("conv.decidedAt")}</dt>
          <dd>{formatDateTime(text("decidedAt"), locale, timeZone)}</dd>
        </>
      ) : null}
    </dl>
  );
}
