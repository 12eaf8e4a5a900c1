export { createBankUser, listBankUsers, updateBankUser } from "./bank-users";
export { addKscAgent, contractKsc, createKscOrg, listKscOrgs } from "./ksc";
export { loadMemberships } from "./memberships";
export { createProviderAdmin, ensureProviderAdmin } from "./provider";
