export { accessConversation } from "./access";
export { loadBankContext } from "./bank";
export { requestCallback } from "./callback";
export { closeConversation } from "./close";
export { handoverConversation, type RoutedConversation } from "./handover";
export { loadInbox } from "./inbox";
export { linkConversationCustomer } from "./link-customer";
export { takeConversation } from "./take";
export { conversationDetail, listConversations, messageMedia } from "./views";
