export {
  type Classification,
  type CompiledRuleBook,
  classify,
  compileRuleBook,
  explainMatch,
  findRule,
  MAX_CLASSIFIED_CHARS,
  type MatchEvidence,
  type MatchExplanation,
  type SkippedPattern,
} from "./classify";
export {
  type DataClass,
  dataClassCatalogue,
  dataClassIds,
  dataClassLabel,
  type ForbiddenDataClass,
  forbiddenDataClasses,
  forbiddenDataClassIds,
  isDataClass,
  isForbiddenDataClass,
} from "./data-classes";
export { defaultRuleBook, remapSnippetIds } from "./default-rule-book";
export {
  containsSensitiveData,
  isLuhnValid,
  type MaskFinding,
  type MaskResult,
  maskForKsc,
  maskInbound,
  type SecretType,
} from "./masking";
export { foldGerman } from "./normalize";
export {
  checkOutgoing,
  type DataRequest,
  findDataRequests,
  type OutgoingActor,
  type OutgoingCheck,
  type OutgoingDraft,
  type OutgoingIssue,
  type OutgoingIssueCode,
} from "./outgoing";
export { type RedirectReplyOptions, redirectReplyText, sensitiveDataHintText } from "./replies";
export { MAX_BOOK_PATTERN_COST, MAX_PATTERN_COST } from "./pattern-engine";
export {
  BANK_SERVICE_PHONE_PLACEHOLDER,
  compileRulePattern,
  foldPatternSource,
  MAX_BOOK_PATTERNS,
  patternProblem,
  type Rule,
  type RuleAction,
  type RuleBook,
  type RuleBookInput,
  type RuleHandling,
  type RuleInput,
  ruleActionSchema,
  ruleBookSchema,
  ruleSchema,
} from "./schema";
export {
  type DefaultSnippet,
  defaultSnippets,
  renderSnippet,
  type SnippetVariableName,
  type SnippetVariables,
  snippetVariableNames,
  unknownSnippetVariables,
} from "./snippets";
export { type OptKeyword, optInConfirmationText, optKeyword, optOutConfirmationText } from "./opt-keywords";
