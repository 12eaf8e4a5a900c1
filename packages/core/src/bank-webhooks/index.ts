export { type DeliveryOutcome, deliverWebhook, sweepBankWebhooks } from "./deliver";
export { getDelivery, listDeliveries, resendDelivery } from "./deliveries";
export {
  createEndpoint,
  deleteEndpoint,
  getEndpoint,
  listEndpoints,
  rotateSecret,
  updateEndpoint,
} from "./endpoints";
export { bankWebhookProjection } from "./projection";
