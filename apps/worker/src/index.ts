export { startWorkers, type RunningWorkers } from "./worker";
export { processors } from "./processors/index";
export type { Processor, JobHandler, WorkerContext } from "./registry";
