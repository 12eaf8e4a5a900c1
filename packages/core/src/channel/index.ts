export * from "./dispatch";
export * from "./graph";
export * from "./ingest";
export * from "./limiter";
export * from "./send";
export * from "./tenants-by-number";
export * from "./webhook";
export * from "./number-admin";
