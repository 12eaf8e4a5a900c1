export * from "./plans";
export * from "./report";
export * from "./setup";
export * from "./stripe";
export * from "./tables";
export * from "./usage";
export * from "./view";
export * from "./webhook";
