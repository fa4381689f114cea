/**
 * @traceable-ebpf/daemonset-tracer: the reference tracer. Its CLI is `ebpf-tracer`; this entry
 * gives what programs build on: the run itself, the config schema, and the contract of exporter
 * plugins (`exporter.type: module`).
 * @packageDocumentation
 */
export { main } from './main.js';
export { startTracer, type TracerOptions, type RunningTracer } from './tracer.js';
export { configSchema, parseConfig, loadConfig, type TracerConfig } from './config.js';
export {
  MIN_CLOSE_MS,
  type ExporterModuleContext,
  type ExporterModuleFactory,
  type ExporterModuleLogger,
} from './exporter-module.js';
