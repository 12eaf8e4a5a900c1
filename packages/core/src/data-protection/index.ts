export {
  eraseCustomer,
  exportCustomer,
  getRetention,
  MAX_RETENTION_DAYS,
  purgeAllTenants,
  purgeExpiredConversations,
  setRetention,
} from "./data-protection";
