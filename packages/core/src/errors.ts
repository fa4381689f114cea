/**
 * One errors module for every package, with stable codes. Messages are one line, written for the
 * person running the tracer; `code` is for programs.
 */

/** Stable error codes. */
export const ErrorCode = {
  /** Not root, or missing CAP_BPF / CAP_PERFMON / CAP_SYS_ADMIN. */
  NoPrivilege: 'E_NO_PRIVILEGE',
  /** No kernel BTF and no BTF file found. */
  NoBtf: 'E_NO_BTF',
  /** libbpf (libbpf.so.1) can't be loaded. */
  NoLibbpf: 'E_NO_LIBBPF',
  /** tracefs isn't mounted and couldn't be mounted. */
  NoTracefs: 'E_NO_TRACEFS',
  /** The kernel rejected a program or a map (verifier, missing feature). */
  BpfLoad: 'E_BPF_LOAD',
  /** A probe couldn't be attached. */
  BpfAttach: 'E_BPF_ATTACH',
  /** The BPF object file is missing (not built). */
  NoBpfObject: 'E_NO_BPF_OBJECT',
  /** A command-line argument is wrong. */
  Usage: 'E_USAGE',
  /** A configuration key or value is wrong. */
  Config: 'E_CONFIG',
  /** Exporting spans failed. */
  Export: 'E_EXPORT',
  /** An exporter plugin (`exporter.type: module`) can't be found or loaded, or its factory failed. */
  ExporterModule: 'E_EXPORTER_MODULE',
  /** A selected process doesn't exist. */
  NoProcess: 'E_NO_PROCESS',
  /**
   * A counter can't be registered: its name is built in, already registered with another
   * description or kind, or not a valid name.
   */
  Counter: 'E_COUNTER',
} as const;

/** One of {@link ErrorCode}'s values. */
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** An error with a stable code and a one-line message meant for users. */
export class TracerError extends Error {
  /** Always `TracerError`. */
  override readonly name = 'TracerError';
  constructor(
    /** The stable code: what went wrong, for programs (the message is for people). */
    readonly code: ErrorCodeValue,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** True for a {@link TracerError}, also one sent across a worker boundary as a plain object. */
export function isTracerError(err: unknown): err is TracerError {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as { code?: unknown }).code === 'string' &&
    Object.values(ErrorCode).includes((err as { code: ErrorCodeValue }).code)
  );
}
