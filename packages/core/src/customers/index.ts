export { searchCustomers, upsertCustomer } from "./customers";
