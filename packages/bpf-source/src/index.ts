/**
 * @traceable-ebpf/bpf-source: socket events of chosen processes from the kernel, through eBPF.
 * @packageDocumentation
 */
export {
  bpfSource,
  DEFAULT_OBJECT_PATH,
  DEFAULT_PERFBUF_OBJECT_PATH,
  type BpfSourceOptions,
} from './bpf-source.js';
export type {
  CaptureMode,
  CapturePolicy,
  ProcessSelector,
  CgroupSelector,
  CallStore,
  EventTransport,
} from './protocol.js';
export {
  preflight,
  checkPrivileges,
  findBtf,
  ensureTracefs,
  type SystemInfo,
  type BtfLocation,
} from './system.js';
export { decodeBatch, formatAddress } from './decode.js';
export {
  replaySource,
  readRecordingInfo,
  layoutFingerprint,
  RecordingWriter,
  type RecordingInfo,
  type ReplaySourceOptions,
} from './recording.js';
export { inferRoles, type InferRolesOptions } from './infer-roles.js';
export { cgroupId } from './cgroup-id.js';
