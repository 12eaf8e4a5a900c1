export { startWorkers, type RunningWorkers } from "./worker";
export { processors } from "./processors/index";
export type { AnyProcessor, Processor, WorkerContext } from "./registry";
