export {
  eraseCustomer,
  exportCustomer,
  getRetention,
  MAX_RETENTION_DAYS,
  purgeAllTenants,
  purgeExpiredConversations,
  purgeWebhookEvents,
  setRetention,
} from "./data-protection";
