export {
  type DispatchOutcome,
  dispatchBatch,
  dispatchDepsFor,
  dispatchMessage,
  fetchMedia,
  markConversationRead,
} from "./dispatch";
export { MAX_EVENT_ATTEMPTS, processWebhookEvent, processWebhookEvents } from "./ingest";
export { getBusinessProfile, numberStatus, updateBusinessProfile, updateNumber } from "./number-admin";
export { queueNotifications, queueSystemMessage, sendMessage } from "./send";
export {
  eventBatchJobs,
  signWebhookBody,
  type StoredWebhook,
  sweepPendingWebhooks,
  verifyWebhookSignature,
  WebhookRelay,
  WebhookStore,
} from "./webhook";
