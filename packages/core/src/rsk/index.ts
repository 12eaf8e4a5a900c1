export * from "./draft-check";
export * from "./rule-book";
