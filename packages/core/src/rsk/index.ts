export * from "./data-protection";
export * from "./draft-check";
export * from "./guidance";
export * from "./rule-book";
export * from "./rule-store";
export * from "./snippet-store";
export * from "./after-inbound";
