/**
 * Test support (not part of the package's API, not published): kernel events for one connection
 * built from text, and the reassemble → parseHttp pipeline they run through.
 */
import { from, lastValueFrom, toArray } from 'rxjs';
import {
  Stats,
  reassemble,
  type ApiExchange,
  type Direction,
  type KernelEvent,
  type ReassembleOptions,
  type Role,
} from '@traceable-ebpf/core';
import { parseHttp, type ParseHttpOptions } from '../parse-http.js';

/** The test connection's id. */
export const CONN = '7:5:100';

/** The open event of the test connection. */
export function open(role: Role, extra: { midStream?: boolean } = {}): KernelEvent {
  return {
    kind: 'open',
    conn: CONN,
    tgid: 7,
    fd: 5,
    tid: 7,
    tsNs: 1,
    role,
    family: 4,
    tls: false,
    comm: 'test',
    local: { address: '127.0.0.1', port: 8080 },
    remote: { address: '127.0.0.1', port: 40000 },
    ...extra,
  };
}

/** Data events for `bytes` in `direction`, cut at the given positions, from stream offset `base`. */
export function chunks(
  direction: Direction,
  text: string | Uint8Array,
  cuts: number[],
  ts: number,
  base = 0,
): KernelEvent[] {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
  const bounds = [0, ...cuts.filter((c) => c > 0 && c < bytes.length), bytes.length];
  const out: KernelEvent[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const data = bytes.subarray(bounds[i]!, bounds[i + 1]!);
    out.push({
      kind: 'data',
      conn: CONN,
      tgid: 7,
      fd: 5,
      tid: 7,
      tsNs: ts + i,
      direction,
      offset: base + bounds[i]!,
      size: data.length,
      data,
      syscall: 'read',
    });
  }
  return out;
}

/** A sendfile: `size` bytes sent at stream `offset`, none of them copied (the kernel's event). */
export function sendfile(offset: number, size: number, ts: number): KernelEvent {
  return {
    kind: 'data',
    conn: CONN,
    tgid: 7,
    fd: 5,
    tid: 7,
    tsNs: ts,
    direction: 'send',
    offset,
    size,
    data: new Uint8Array(0),
    syscall: 'sendfile',
  };
}

/** The close event, with the final stream offsets. */
export function close(sent: number, recv: number): KernelEvent {
  return {
    kind: 'close',
    conn: CONN,
    tgid: 7,
    fd: 5,
    tsNs: 10_000,
    sentBytes: sent,
    recvBytes: recv,
  };
}

/**
 * A whole server connection: it receives `recv` and sends `send`, each in one event (at times
 * 10 and 20), then closes.
 */
export function serverConnection(
  recv: string | Uint8Array,
  send: string | Uint8Array,
): KernelEvent[] {
  return [
    open('server'),
    ...chunks('recv', recv, [], 10),
    ...chunks('send', send, [], 20),
    close(send.length, recv.length),
  ];
}

/** Runs events through reassemble and parseHttp; resolves with the exchanges. */
export async function run(
  events: KernelEvent[],
  stats = new Stats(),
  maxBodyBytes?: number,
  reassembly: ReassembleOptions = {},
  parsing: ParseHttpOptions = {},
): Promise<ApiExchange[]> {
  return lastValueFrom(
    from(events).pipe(
      reassemble({ stats, ...reassembly }),
      parseHttp({ stats, maxBodyBytes, ...parsing }),
      toArray(),
    ),
  );
}

/** Method, target, version, status, sizes and bodies of each exchange. */
export const summary = (exs: ApiExchange[]) =>
  exs.map((e) => [
    e.request.method,
    e.request.target,
    e.request.version,
    e.response?.status,
    e.request.bodySize,
    e.response?.bodySize,
    Buffer.from(e.request.body).toString(),
    Buffer.from(e.response?.body ?? []).toString(),
  ]);

/** One HTTP/2 frame on the wire. */
export function h2frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Uint8Array | string,
): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : Buffer.from(payload);
  const head = Buffer.alloc(9);
  head.writeUIntBE(body.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, body]);
}

/** An HPACK block of literals without indexing (and raw bytes for indexed fields). */
export function hpackBlock(...fields: Array<[string, string] | number>): Uint8Array {
  const out: number[] = [];
  for (const f of fields) {
    if (typeof f === 'number') out.push(f);
    else out.push(0, f[0].length, ...Buffer.from(f[0]), f[1].length, ...Buffer.from(f[1]));
  }
  return Uint8Array.from(out);
}
