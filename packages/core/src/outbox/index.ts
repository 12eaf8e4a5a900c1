export { sweepOutbox } from "./outbox";
