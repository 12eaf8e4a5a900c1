export { checkAgentDraft } from "./guard";
export { conversationGuidance, topicCounts } from "./guidance";
export {
  changeRuleBook,
  checkRuleText,
  currentRuleBook,
  listRuleBookVersions,
  ruleBookVersion,
} from "./rule-store";
export { createSnippet, deleteSnippet, getSnippet, listSnippets, updateSnippet } from "./snippet-store";
