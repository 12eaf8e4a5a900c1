export { API_KEY_SCOPES, authenticateApiKey, createApiKey, listApiKeys, revokeApiKey } from "./api-keys";
export { login } from "./login";
export { SESSION_COOKIE } from "./lucia";
