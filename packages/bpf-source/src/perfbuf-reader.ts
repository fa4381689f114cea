/**
 * Reads the perf buffer build's events (kernels before 5.8) through libbpf's perf_buffer, one
 * callback per record (fine for the kernels that need it), and frames each record as the ring
 * buffer does (u32 length, u32 reserved, record, padding to 8), so decoding, recording and
 * replay are the same for both transports.
 */
import koffi from 'koffi';
import { ErrorCode, TracerError } from '@traceable-ebpf/core';
import type { Libbpf } from './libbpf.js';
import { pageSize } from './mmap.js';
import type { EventReader } from './ringbuf-reader.js';

/** A perf buffer on the `events` map, `bytes` in total across CPUs. */
export class PerfbufReader implements EventReader {
  readonly fd: number;
  private readonly pb: { pb: unknown; free(): void };
  /** Records consumed but not yet handed out (bounded by what one consume returns). */
  private queued: Uint8Array[] = [];

  constructor(
    private readonly lib: Libbpf,
    mapFd: number,
    bytes: number,
  ) {
    const perCpu = Math.max(1, Math.floor(bytes / lib.numPossibleCpus() / pageSize()));
    const pages = 2 ** Math.floor(Math.log2(perCpu)); // libbpf wants a power of two
    this.pb = lib.perfBufferNew(mapFd, pages, (ptr, size) => {
      const rec = new Uint8Array(8 + ((size + 7) & ~7));
      new DataView(rec.buffer).setUint32(0, size, true);
      rec.set(new Uint8Array(koffi.view(ptr, size)), 8);
      this.queued.push(rec);
    });
    if (!this.pb.pb)
      throw new TracerError(
        ErrorCode.BpfLoad,
        `cannot open the perf buffer (errno ${lib.errno()})`,
      );
    this.fd = lib.perfBufferEpollFd(this.pb.pb);
  }

  readInto(dst: Uint8Array, pos: number): { bytes: number; records: number } {
    if (this.queued.length === 0) {
      this.lib.perfBufferConsume(this.pb.pb);
      // Perf buffers are per CPU and consumed one CPU after another: merge by the kernel
      // timestamp (the first field of every record), or a response written on one CPU could be
      // handed over before the request read on another.
      const ts = (r: Uint8Array) =>
        new DataView(r.buffer, r.byteOffset + 8, 8).getBigUint64(0, true);
      this.queued.sort((a, b) => {
        const d = ts(a) - ts(b);
        return d < 0n ? -1 : d > 0n ? 1 : 0;
      });
    }
    let bytes = 0;
    let records = 0;
    while (this.queued.length > 0 && pos + bytes + this.queued[0]!.length <= dst.length) {
      const rec = this.queued.shift()!;
      dst.set(rec, pos + bytes);
      bytes += rec.length;
      records++;
    }
    return { bytes, records };
  }

  pending(): undefined {
    return undefined; // per-CPU buffers, their fill not read here
  }

  close(): void {
    this.pb.free();
  }
}
