export { controlMigrations } from "./control/index";
export { tenantMigrations } from "./tenant/index";
