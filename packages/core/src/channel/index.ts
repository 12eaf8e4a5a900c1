export {
  type DispatchOutcome,
  dispatchBatch,
  dispatchDepsFor,
  dispatchMessage,
  fetchMedia,
  markConversationRead,
  requeueUnfinishedJobs,
} from "./dispatch";
export { MAX_EVENT_ATTEMPTS, processWebhookEvent, processWebhookEvents } from "./ingest";
export {
  campaignDetail,
  MAX_BATCH_ITEMS,
  type NotificationRequest,
  notificationDetail,
  sendNotification,
  sendNotificationBatch,
} from "./notifications";
export { getBusinessProfile, numberStatus, updateBusinessProfile, updateNumber } from "./number-admin";
export { queueNotifications, queueSystemMessage, sendMessage } from "./send";
export { listTemplates, syncTemplates, syncTemplatesNow } from "./templates";
export { bindingForNumber, cachedBindings } from "./tenants-by-number";
export {
  eventBatchJobs,
  signWebhookBody,
  type StoredWebhook,
  sweepPendingWebhooks,
  verifyWebhookSignature,
  WebhookRelay,
  WebhookStore,
} from "./webhook";
