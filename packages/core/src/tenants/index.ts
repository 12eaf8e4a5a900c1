export { findTenantBySlug, requireProvider, resolveTenant, type TenantAccess } from "./access";
export { onboardTenant } from "./onboard";
