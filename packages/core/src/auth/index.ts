export { API_KEY_SCOPES, authenticateApiKey, createApiKey, listApiKeys, revokeApiKey } from "./api-keys";
export { login } from "./login";
export { deleteExpiredSessions, endSession, streamHeartbeat } from "./sessions";
export { SESSION_COOKIE } from "./lucia";
