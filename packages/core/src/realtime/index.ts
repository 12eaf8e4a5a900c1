export { type AgentEvent, EventHub, publishToUsers, replaySince } from "./stream";
