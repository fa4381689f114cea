/**
 * Recordings of the raw kernel event stream, and a replay source with the same
 * Observable<KernelEvent> type as bpfSource: a bug seen on a real machine becomes a unit test,
 * and benchmarks run on real traffic without privileges.
 *
 * File: "TEBPFREC" | u32 version | u32 info length | info JSON | blocks. A block is u32 length,
 * u32 record count, then ring buffer records exactly as the kernel framed them. The info names
 * the event layout's fingerprint (a recording is only replayed by a build with the same layout)
 * and the recording machine's CLOCK_MONOTONIC → Unix epoch offset, so replayed spans keep their
 * original times.
 */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import os from 'node:os';
import { Observable } from 'rxjs';
import {
  ErrorCode,
  TracerError,
  sampleEpochOffsetNs,
  type FlowControl,
  type KernelEvent,
} from '@traceable-ebpf/core';
import * as layout from './generated/layout.js';
import { decodeBatch } from './decode.js';

const MAGIC = Buffer.from('TEBPFREC');
const VERSION = 1;

/** What a recording says about itself. */
export interface RecordingInfo {
  /** Fingerprint of the event layout that wrote it. */
  readonly layout: string;
  /** Unix-epoch ns minus CLOCK_MONOTONIC ns on the recording machine, as a decimal string. */
  readonly epochOffsetNs: string;
  /** When the recording was started (ISO 8601). */
  readonly created: string;
  /** The release of the kernel it was recorded on. */
  readonly kernel: string;
}

/** The parts of the generated layout a recorded record's meaning depends on. */
const RECORD_LAYOUT = [
  'TE_MAX_DATA',
  'EventKind',
  'Role',
  'Direction',
  'Syscall',
  'CONN_ID_OFFSETS',
  'EVENT_HEADER_OFFSETS',
  'OPEN_EVENT_OFFSETS',
  'CLOSE_EVENT_OFFSETS',
  'DATA_EVENT_OFFSETS',
] as const;

/** Fingerprint of this build's record layout (settings and counters may change freely). */
export function layoutFingerprint(): string {
  const constants = RECORD_LAYOUT.map((name) => [name, layout[name]]);
  return createHash('sha256').update(JSON.stringify(constants)).digest('hex').slice(0, 16);
}

/** Appends batches to a recording file. Writes are synchronous: use it off the main thread. */
export class RecordingWriter {
  private readonly fd: number;
  private closed = false;

  /** `epochOffsetNs`: the clock offset the live pipeline uses (default: sampled now). */
  constructor(path: string, epochOffsetNs: bigint = sampleEpochOffsetNs()) {
    try {
      this.fd = openSync(path, 'w');
    } catch (err) {
      throw new TracerError(
        ErrorCode.Config,
        `cannot write recording ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      );
    }
    const info: RecordingInfo = {
      layout: layoutFingerprint(),
      epochOffsetNs: String(epochOffsetNs),
      created: new Date().toISOString(),
      kernel: os.release(),
    };
    const json = Buffer.from(JSON.stringify(info));
    const head = Buffer.alloc(16);
    MAGIC.copy(head, 0);
    head.writeUInt32LE(VERSION, 8);
    head.writeUInt32LE(json.length, 12);
    writeSync(this.fd, head);
    writeSync(this.fd, json);
  }

  /** Appends one batch (ring buffer framing). */
  write(batch: Uint8Array, length: number, records: number): void {
    const head = Buffer.alloc(8);
    head.writeUInt32LE(length, 0);
    head.writeUInt32LE(records, 4);
    writeSync(this.fd, head);
    writeSync(this.fd, batch, 0, length);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    fsyncSync(this.fd);
    closeSync(this.fd);
  }
}

function readExactly(fd: number, n: number, path: string): Buffer | undefined {
  const buf = Buffer.alloc(n);
  let got = 0;
  while (got < n) {
    const k = readSync(fd, buf, got, n - got, null);
    if (k === 0) {
      if (got === 0) return undefined;
      throw new TracerError(ErrorCode.Config, `recording ${path} is truncated`);
    }
    got += k;
  }
  return buf;
}

function openRecording(path: string): { fd: number; info: RecordingInfo } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw new TracerError(
      ErrorCode.Config,
      `cannot read recording ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  const head = readExactly(fd, 16, path);
  if (!head || !head.subarray(0, 8).equals(MAGIC)) {
    closeSync(fd);
    throw new TracerError(ErrorCode.Config, `${path} is not a traceable-ebpf recording`);
  }
  if (head.readUInt32LE(8) !== VERSION) {
    closeSync(fd);
    throw new TracerError(
      ErrorCode.Config,
      `${path}: recording version ${head.readUInt32LE(8)} is not supported`,
    );
  }
  const info = JSON.parse(
    readExactly(fd, head.readUInt32LE(12), path)!.toString(),
  ) as RecordingInfo;
  if (info.layout !== layoutFingerprint()) {
    closeSync(fd);
    throw new TracerError(
      ErrorCode.Config,
      `${path} was recorded with another event layout (${info.layout}); this build reads ${layoutFingerprint()}`,
    );
  }
  return { fd, info };
}

/** A recording's info (throws a one-line TracerError for a bad file). */
export function readRecordingInfo(path: string): RecordingInfo {
  const { fd, info } = openRecording(path);
  closeSync(fd);
  return info;
}

/** Options of {@link replaySource}. */
export interface ReplaySourceOptions {
  /**
   * Backpressure: while the sink has it paused, no more blocks are read (a replay to a slow
   * collector waits for it instead of overflowing its queue).
   */
  readonly flow?: FlowControl;
}

/**
 * The events of a recording, as fast as they decode (a block at a time, yielding to the event
 * loop between blocks) and as fast as `options.flow` lets them go. Same type as bpfSource;
 * needs no privileges.
 *
 * @example
 * ```ts
 * import { Stats, clockFromOffset, reassemble } from '@traceable-ebpf/core';
 * import { readRecordingInfo, replaySource } from '@traceable-ebpf/bpf-source';
 * import { parseHttp } from '@traceable-ebpf/parsers';
 * import { toSpans } from '@traceable-ebpf/exporters';
 *
 * // No privileges needed; spans keep the times of the recording.
 * const stats = new Stats();
 * const clock = clockFromOffset(BigInt(readRecordingInfo('session.rec').epochOffsetNs));
 * replaySource('session.rec')
 *   .pipe(reassemble({ stats }), parseHttp({ stats }), toSpans({ clock }))
 *   .subscribe((span) => console.log(span.name, span.attributes['http.response.status_code']));
 * ```
 */
export function replaySource(
  path: string,
  options: ReplaySourceOptions = {},
): Observable<KernelEvent> {
  const flow = options.flow;
  return new Observable<KernelEvent>((subscriber) => {
    let fd: number | undefined;
    let stopped = false;
    try {
      fd = openRecording(path).fd;
    } catch (err) {
      subscriber.error(err);
      return;
    }
    /** The next block's events, or undefined at the end of the file. */
    const readBlock = (emit: (ev: KernelEvent) => void): boolean => {
      const head = readExactly(fd!, 8, path);
      if (!head) return false;
      const block = readExactly(fd!, head.readUInt32LE(0), path)!;
      const buffer = block.buffer.slice(
        block.byteOffset,
        block.byteOffset + block.length,
      ) as ArrayBuffer;
      decodeBatch(buffer, block.length, emit);
      return true;
    };
    // With backpressure, a block's events are held and handed on one at a time, so a pause
    // takes effect at once: one block recorded under load is thousands of events, megabytes
    // of spans, more than a small export queue holds.
    let held: KernelEvent[] = [];
    let next = 0;
    const hold = (ev: KernelEvent) => held.push(ev);
    const step = () => {
      if (stopped) return;
      try {
        for (let i = 0; i < 8 && !stopped; i++) {
          if (!flow) {
            if (!readBlock((ev) => subscriber.next(ev))) return subscriber.complete();
            continue;
          }
          if (next >= held.length) {
            held = [];
            next = 0;
            if (!readBlock(hold)) return subscriber.complete();
          }
          while (next < held.length && !stopped) {
            if (flow.paused) {
              void flow.whenResumed().then(step);
              return;
            }
            subscriber.next(held[next++]!);
          }
        }
        setImmediate(step);
      } catch (err) {
        subscriber.error(err);
      }
    };
    setImmediate(step);
    return () => {
      stopped = true;
      if (fd !== undefined) closeSync(fd);
    };
  });
}
