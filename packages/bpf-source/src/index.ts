/**
 * @traceable-ebpf/bpf-source: socket events of chosen processes from the kernel, through eBPF.
 * @packageDocumentation
 */
export { bpfSource, type BpfSourceOptions } from './bpf-source.js';
export type {
  CaptureMode,
  CapturePolicy,
  ProcessSelector,
  CgroupSelector,
  CallStore,
  DataAttach,
  EventTransport,
} from './protocol.js';
export { checkPrivileges, findBtf, type BtfLocation, type SystemInfo } from './system.js';
export { releaseFreedMemory } from './free-memory.js';
export {
  replaySource,
  readRecordingInfo,
  type RecordingInfo,
  type ReplaySourceOptions,
} from './recording.js';
export { inferRoles, type InferRolesOptions } from './infer-roles.js';
export { cgroupId } from './cgroup-id.js';
