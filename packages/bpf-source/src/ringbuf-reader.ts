/**
 * Reads a BPF ring buffer from its memory mapping, as libbpf does internally, but hands whole
 * runs of committed records over at once: per record only its 8-byte header is read; the bytes
 * are copied in one block. (libbpf's ring_buffer__consume calls back per record, and a koffi
 * callback per record was the tracer's largest cost under load.)
 *
 * Layout (kernel/bpf/ringbuf.c): page 0 holds consumer_pos (we write it); page 1 holds
 * producer_pos; the data area follows. The kernel lets it be mapped twice back to back, so a
 * record that wraps reads as contiguous (libbpf does that); this reader maps it once and copies
 * a run that wraps in two pieces: the process's resident memory then counts the ring once, not
 * twice. Each record: u32 length with BUSY (bit 31) and DISCARD (bit 30) flags, u32 page offset,
 * then the sample, padded to 8 bytes (a header never wraps: records start 8-byte aligned).
 */
import { mapFd, pageSize, type Mapping } from './mmap.js';

/** Record header bits. */
export const RINGBUF_BUSY_BIT = 0x80000000;
export const RINGBUF_DISCARD_BIT = 0x40000000;
export const RINGBUF_HEADER_BYTES = 8;

const u64 = (v: DataView, o: number) =>
  v.getUint32(o, true) + v.getUint32(o + 4, true) * 4294967296;

/** Where the worker gets kernel records from: the ring buffer, or the perf buffer. */
export interface EventReader {
  /** The fd to poll for readability. */
  readonly fd: number;
  /** Copies records (ring buffer framing) into `dst` from `pos`, as many as fit. */
  readInto(dst: Uint8Array, pos: number): { bytes: number; records: number };
  /**
   * Bytes of records waiting in the kernel's buffer, when the reader can tell (else undefined):
   * sizes the next batch, and is how full the buffer got.
   */
  pending(): number | undefined;
  close(): void;
}

/** A mapped ring buffer. */
export class RingbufReader implements EventReader {
  private readonly consumerMap: Mapping;
  private readonly dataMap: Mapping;
  private readonly consumer: DataView;
  private readonly producer: DataView;
  /** The data area, mapped once. */
  private readonly data: Uint8Array;
  private readonly dataView: DataView;
  private readonly size: number;
  private readonly mask: number;

  /** Maps the ring buffer behind `mapFd`, `size` bytes (its max_entries). */
  constructor(
    readonly fd: number,
    size: number,
  ) {
    const page = pageSize();
    this.size = size;
    this.mask = size - 1;
    this.consumerMap = mapFd(fd, page, 0, true);
    this.dataMap = mapFd(fd, page + size, page, false);
    this.consumer = new DataView(this.consumerMap.buffer);
    this.producer = new DataView(this.dataMap.buffer, 0, page);
    this.data = new Uint8Array(this.dataMap.buffer, page, size);
    this.dataView = new DataView(this.dataMap.buffer, page, size);
  }

  /** Bytes committed or reserved by producers and not yet consumed. */
  pending(): number {
    return u64(this.producer, 0) - u64(this.consumer, 0);
  }

  /**
   * Copies committed records (ring buffer framing, discarded ones included: the reader skips
   * them) into `dst` from `pos`, up to its end, and releases them to the kernel. Stops at a
   * record still being written. Returns the bytes copied and the records among them.
   */
  readInto(dst: Uint8Array, pos: number): { bytes: number; records: number } {
    const cons = u64(this.consumer, 0);
    const prod = u64(this.producer, 0);
    const room = dst.length - pos;
    let end = cons;
    let records = 0;
    while (end < prod) {
      const hdr = this.dataView.getUint32(end & this.mask, true);
      if (hdr & RINGBUF_BUSY_BIT) break;
      const total =
        (((hdr & ~(RINGBUF_BUSY_BIT | RINGBUF_DISCARD_BIT)) + RINGBUF_HEADER_BYTES + 7) & ~7) >>> 0;
      if (end + total - cons > room) break;
      end += total;
      records++;
    }
    const bytes = end - cons;
    if (bytes > 0) {
      const from = cons & this.mask;
      const first = Math.min(bytes, this.size - from);
      dst.set(this.data.subarray(from, from + first), pos);
      // The part past the end of the data area continues at its start.
      if (first < bytes) dst.set(this.data.subarray(0, bytes - first), pos + first);
      // One 8-byte store (the kernel reads it whole); x86-64 doesn't reorder it before the copy.
      this.consumer.setBigUint64(0, BigInt(end), true);
    }
    return { bytes, records };
  }

  /** Unmaps the ring buffer. */
  close(): void {
    this.consumerMap.unmap();
    this.dataMap.unmap();
  }
}
