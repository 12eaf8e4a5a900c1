export {
  type AgentEvent,
  EventHub,
  expireStreamsWithoutTtl,
  forgetConversations,
  publishToUsers,
  replaySince,
  STREAM_TTL_SECONDS,
  streamKey,
} from "./stream";
