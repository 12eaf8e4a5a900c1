export { createBankUser, listBankUsers, updateBankUser } from "./bank-users";
export { addKscAgent, createKscOrg, kscContractHistory, listKscOrgs } from "./ksc";
export { loadMemberships } from "./memberships";
export { createProviderAdmin, ensureProviderAdmin } from "./provider";
