/**
 * Generator of valid h2c conversations (prior knowledge): the client preface, SETTINGS and
 * their ACKs, several concurrent streams interleaved in both directions, HPACK header blocks
 * (split over CONTINUATIONs, padded, with priority fields), DATA with and without padding,
 * trailers, interim responses, PING, WINDOW_UPDATE, PRIORITY, unknown frame types, RST_STREAM,
 * GOAWAY; and gRPC calls over it (length-prefixed messages, grpc-status trailers, trailers-only
 * responses). Header blocks are encoded in send order, so both HPACK tables stay in step.
 */
import type { Direction, Role } from '@traceable-ebpf/core';
import type { Segment } from './input.js';
import type { Expected, ExpectedExchange, ExpectedGrpc } from './expected.js';
import type { GeneratedConversation } from './http1-generator.js';
import { body, headerValue } from './http1-generator.js';
import { HpackEncoder, type Field } from './hpack-encoder.js';
import {
  F,
  PREFACE,
  T,
  dataFrames,
  frame,
  headerFrames,
  settingsPayload,
  u32s,
} from './h2-frames.js';
import type { Rng } from './rng.js';

const NAME = 'abcdefghijklmnopqrstuvwxyz0123456789-';
const PATH = 'abcdefghijklmnopqrstuvwxyz0123456789-._~';
const STATUSES = [200, 200, 201, 204, 301, 304, 400, 404, 500, 503];

interface Unit {
  readonly dir: Direction;
  /** Built when sent: header blocks must be encoded in send order. */
  readonly build: () => Uint8Array;
}

interface StreamPlan {
  readonly request: Unit[];
  readonly response: Unit[];
}

/** Options of {@link generateH2}. */
export interface H2Options {
  /** Every stream a gRPC call. */
  readonly grpc: boolean;
}

function regularHeaders(rng: Rng): Field[] {
  const out: Field[] = [];
  const n = rng.small(5);
  for (let i = 0; i < n; i++) out.push([`x-${rng.text(NAME, rng.range(1, 10))}`, headerValue(rng)]);
  if (rng.chance(0.3)) out.push(['user-agent', 'fuzz-h2']);
  if (rng.chance(0.3)) out.push(['accept-encoding', 'gzip, deflate']);
  return out;
}

/** gRPC messages: flag byte, 4-byte length, bytes. */
function grpcMessages(rng: Rng, count: number, compressed: boolean) {
  const parts: Buffer[] = [];
  let bytes = 0;
  let anyCompressed = false;
  for (let i = 0; i < count; i++) {
    const len = rng.chance(0.1) ? rng.range(0, 30_000) : rng.small(300);
    const flag = compressed && rng.chance(0.7) ? 1 : 0;
    anyCompressed ||= flag === 1;
    const prefix = Buffer.alloc(5);
    prefix[0] = flag;
    prefix.writeUInt32BE(len, 1);
    parts.push(prefix, Buffer.from(rng.bytes(len)));
    bytes += len;
  }
  return { data: Buffer.concat(parts), count, bytes, compressed: anyCompressed };
}

/** One random h2c conversation (all gRPC calls when `options.grpc`). */
export function generateH2(rng: Rng, options: H2Options): GeneratedConversation {
  const role: Role = rng.chance(0.7) ? 'server' : 'client';
  const c: Direction = role === 'server' ? 'recv' : 'send'; // client to server
  const s: Direction = role === 'server' ? 'send' : 'recv';
  // What each side announces: its decoder's table size, the largest frame it reads.
  const clientTable = rng.pick([4096, 4096, 0, 256, 1024, 8192]);
  const serverTable = rng.pick([4096, 4096, 0, 512, 16384]);
  const clientFrame = rng.pick([16384, 16384, 32768, 65536]);
  const serverFrame = rng.pick([16384, 16384, 20000]);
  const clientEnc = new HpackEncoder(rng, serverTable); // requests, decoded by the server
  const serverEnc = new HpackEncoder(rng, clientTable);
  const clientSettings: Array<[number, number]> = [];
  if (clientTable !== 4096 || rng.chance(0.3)) clientSettings.push([1, clientTable]);
  // Upgrade from HTTP/1.1 (RFC 7540 §3.2) instead of prior knowledge; server push.
  const upgrade = !options.grpc && rng.chance(0.15);
  const push = !options.grpc && rng.chance(0.15);
  if (rng.chance(0.5))
    clientSettings.push(...(push ? [] : [[2, 0] as [number, number]]), [3, 100], [4, 65535]);
  if (clientFrame !== 16384 || rng.chance(0.3)) clientSettings.push([5, clientFrame]);
  const serverSettings: Array<[number, number]> = [[3, rng.pick([100, 250])]];
  if (serverTable !== 4096) serverSettings.push([1, serverTable]);
  if (serverFrame !== 16384) serverSettings.push([5, serverFrame]);

  const opening: Segment[] = [
    {
      dir: c,
      bytes: Buffer.concat([PREFACE, frame(T.SETTINGS, 0, 0, settingsPayload(clientSettings))]),
    },
    { dir: s, bytes: frame(T.SETTINGS, 0, 0, settingsPayload(serverSettings)) },
    { dir: s, bytes: frame(T.SETTINGS, F.ACK, 0, new Uint8Array(0)) },
    { dir: c, bytes: frame(T.SETTINGS, F.ACK, 0, new Uint8Array(0)) },
  ];
  // A server's SETTINGS sometimes written before the client's preface arrives.
  if (!upgrade && rng.chance(0.2)) opening.unshift(opening.splice(1, 1)[0]!);
  let upgradeHeaders = 0;
  if (upgrade) {
    // Stream 1's request is an HTTP/1.1 GET asking for h2c; the 101 precedes the server's
    // SETTINGS, and the client's preface follows the 101.
    const lines: Array<[string, string]> = [
      ['Host', 'svc0.test'],
      ['Connection', 'Upgrade, HTTP2-Settings'],
      ['Upgrade', 'h2c'],
      ['HTTP2-Settings', settingsPayload(clientSettings).toString('base64url')],
    ];
    if (rng.chance(0.5)) lines.push(['User-Agent', 'fuzz-upgrade']);
    upgradeHeaders = lines.length;
    const text = `GET /s1/upgrade HTTP/1.1\r\n${lines.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
    const switching =
      'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n';
    opening.splice(
      0,
      2,
      { dir: c, bytes: Buffer.from(text, 'latin1') },
      {
        dir: s,
        bytes: Buffer.concat([
          Buffer.from(switching, 'latin1'),
          frame(T.SETTINGS, 0, 0, settingsPayload(serverSettings)),
        ]),
      },
      {
        dir: c,
        bytes: Buffer.concat([PREFACE, frame(T.SETTINGS, 0, 0, settingsPayload(clientSettings))]),
      },
    );
  }
  let pushes = 0;

  const n = rng.range(1, options.grpc ? 4 : 6);
  const plans: StreamPlan[] = [];
  const exchanges: ExpectedExchange[] = [];
  let unansweredByDesign = 0;
  for (let k = 0; k < n; k++) {
    const id = 2 * k + 1;
    const authority = `svc${rng.int(3)}.test:${rng.pick([80, 8080, 50051])}`;
    const request: Unit[] = [];
    const response: Unit[] = [];
    let method: string;
    let path: string;
    let reqHeaders: Field[];
    let reqBody: Uint8Array;
    let reqTrailers: Field[] = [];
    let grpc: ExpectedGrpc | undefined;
    let resStatus: number | undefined;
    let resHeaders: Field[] = [];
    let resBody: Uint8Array = new Uint8Array(0);
    let resTrailers: Field[] = [];
    let trailersOnly = false;
    if (options.grpc) {
      const service = `pkg${rng.int(3)}.v1.${rng.pick(['Greeter', 'Store', 'Echo'])}`;
      const rpc = rng.pick(['Get', 'List', 'Stream', 'Put']);
      method = 'POST';
      path = `/${service}/${rpc}${id}`;
      const compressed = rng.chance(0.2);
      reqHeaders = [
        ['content-type', rng.pick(['application/grpc', 'application/grpc+proto'])],
        ['te', 'trailers'],
        ...(compressed ? ([['grpc-encoding', 'gzip']] as Field[]) : []),
        ...(rng.chance(0.3) ? ([['grpc-timeout', `${rng.range(1, 999)}m`]] as Field[]) : []),
        ...regularHeaders(rng),
      ];
      const reqMsgs = grpcMessages(rng, rng.chance(0.7) ? 1 : rng.small(5), compressed);
      reqBody = reqMsgs.data;
      const code = rng.pick([0, 0, 0, 1, 2, 3, 5, 12, 13, 14, 16]);
      resStatus = 200;
      trailersOnly = rng.chance(0.15);
      const resMsgs = trailersOnly
        ? grpcMessages(rng, 0, false)
        : grpcMessages(rng, rng.chance(0.6) ? 1 : rng.small(5), compressed);
      resHeaders = [
        ['content-type', 'application/grpc'],
        ...(rng.chance(0.3) ? regularHeaders(rng) : []),
      ];
      const status: Field[] = [['grpc-status', String(code)]];
      if (code !== 0) status.push(['grpc-message', headerValue(rng, 20)]);
      if (trailersOnly) resHeaders.push(...status);
      else resTrailers = status;
      resBody = resMsgs.data;
      grpc = {
        service,
        method: `${rpc}${id}`,
        statusCode: code,
        requestMessages: reqMsgs.count,
        responseMessages: resMsgs.count,
        requestMessageBytes: reqMsgs.bytes,
        responseMessageBytes: resMsgs.bytes,
        compressed: reqMsgs.compressed || resMsgs.compressed,
      };
    } else {
      method = rng.pick(['GET', 'GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'PATCH', 'OPTIONS']);
      path = `/s${id}/${rng.text(PATH, rng.small(20))}${rng.chance(0.3) ? `?q=${rng.text(NAME, 5)}` : ''}`;
      reqHeaders = regularHeaders(rng);
      const hasBody = ['POST', 'PUT', 'PATCH'].includes(method);
      reqBody = hasBody ? body(rng, 40_000) : new Uint8Array(0);
      if (hasBody && rng.chance(0.3)) reqHeaders.push(['content-length', String(reqBody.length)]);
      if (hasBody && rng.chance(0.1)) reqTrailers = [['x-checksum', headerValue(rng, 10)]];
      resStatus = rng.pick(STATUSES);
      resHeaders = regularHeaders(rng);
      if (method !== 'HEAD' && resStatus !== 204 && resStatus !== 304) resBody = body(rng, 40_000);
      if (rng.chance(0.1)) resTrailers = [['x-served-by', headerValue(rng, 10)]];
    }
    const upgraded = upgrade && k === 0;
    if (upgraded) {
      method = 'GET';
      path = '/s1/upgrade';
      reqBody = new Uint8Array(0);
      reqTrailers = [];
      if (resStatus === 304 || resStatus === 204) resBody = new Uint8Array(0);
      else if (resBody.length === 0) resBody = body(rng, 40_000);
    }
    // RST_STREAM from the client after its request, before any answer.
    const reset = !options.grpc && !upgraded && rng.chance(0.1);
    if (reset) resStatus = undefined;

    const reqFields: Field[] = [
      [':method', method],
      [':scheme', 'http'],
      [':path', path],
      [':authority', authority],
      ...reqHeaders,
    ];
    const reqEnds = reqBody.length === 0 && reqTrailers.length === 0;
    if (!upgraded)
      request.push({
        dir: c,
        build: () => headerFrames(rng, id, clientEnc.encode(reqFields), reqEnds, serverFrame),
      });
    if (reqBody.length > 0)
      for (const f of dataFrames(rng, id, reqBody, reqTrailers.length === 0, serverFrame))
        request.push({ dir: c, build: () => f });
    if (reqTrailers.length)
      request.push({
        dir: c,
        build: () => headerFrames(rng, id, clientEnc.encode(reqTrailers), true, serverFrame),
      });
    if (reset) {
      request.push({ dir: c, build: () => frame(T.RST_STREAM, 0, id, u32s(8)) });
      unansweredByDesign++;
    } else {
      if (!options.grpc && rng.chance(0.08)) {
        const interim: Field[] = [
          [':status', '103'],
          ['link', '</a.js>; rel=preload'],
        ];
        response.push({
          dir: s,
          build: () => headerFrames(rng, id, serverEnc.encode(interim), false, clientFrame),
        });
      }
      // Sometimes a push promised first: its own exchange, answered after this one.
      const pushed: Unit[] = [];
      if (push && rng.chance(0.4)) {
        let promised = 0;
        const pushPath = `/p${id}/pushed`;
        const pushFields: Field[] = [
          [':method', 'GET'],
          [':scheme', 'http'],
          [':path', pushPath],
          [':authority', authority],
        ];
        const pushBody = body(rng, 2000);
        response.push({
          dir: s,
          build: () => {
            promised = 2 * ++pushes;
            return headerFrames(
              rng,
              id,
              serverEnc.encode(pushFields),
              false,
              clientFrame,
              promised,
            );
          },
        });
        const pushRes: Field[] = [
          [':status', '200'],
          ['x-pushed', 'yes'],
        ];
        pushed.push(
          {
            dir: s,
            build: () =>
              headerFrames(
                rng,
                promised,
                serverEnc.encode(pushRes),
                pushBody.length === 0,
                clientFrame,
              ),
          },
          ...(pushBody.length
            ? [
                {
                  dir: s,
                  build: () =>
                    Buffer.concat(dataFrames(rng, promised, pushBody, true, clientFrame)),
                },
              ]
            : []),
        );
        exchanges.push({
          method: 'GET',
          target: pushPath,
          authority,
          version: '2',
          requestHeaders: 0,
          requestTrailers: 0,
          requestBody: '',
          status: 200,
          responseHeaders: 1,
          responseTrailers: 0,
          responseBody: Buffer.from(pushBody).toString('hex'),
        });
      }
      const resFields: Field[] = [[':status', String(resStatus)], ...resHeaders];
      const resEnds = trailersOnly || (resBody.length === 0 && resTrailers.length === 0);
      response.push({
        dir: s,
        build: () => headerFrames(rng, id, serverEnc.encode(resFields), resEnds, clientFrame),
      });
      if (!resEnds && (resBody.length > 0 || resTrailers.length === 0))
        for (const f of dataFrames(rng, id, resBody, resTrailers.length === 0, clientFrame))
          response.push({ dir: s, build: () => f });
      if (resTrailers.length && !trailersOnly)
        response.push({
          dir: s,
          build: () => headerFrames(rng, id, serverEnc.encode(resTrailers), true, clientFrame),
        });
      response.push(...pushed);
    }
    plans.push({ request, response });
    exchanges.push({
      method,
      target: path,
      ...(upgraded ? {} : { authority }),
      version: upgraded ? '1.1' : '2',
      requestHeaders: upgraded ? upgradeHeaders : reqHeaders.length,
      requestTrailers: reqTrailers.length,
      requestBody: Buffer.from(reqBody).toString('hex'),
      ...(resStatus !== undefined
        ? {
            status: resStatus,
            responseHeaders: resHeaders.length,
            responseTrailers: resTrailers.length,
            responseBody: Buffer.from(resBody).toString('hex'),
          }
        : { unanswered: 'reset', aborted: true }),
      ...(grpc ? { grpc } : {}),
    });
  }

  // Interleave the streams: stream k opens after stream k-1 has, a response follows its request.
  const segments: Segment[] = [...opening];
  const reqAt = plans.map(() => 0);
  const resAt = plans.map(() => 0);
  let opened = upgrade ? 1 : 0;
  const control = (): Segment[] => {
    const dir = rng.chance(0.5) ? c : s;
    const other = dir === c ? s : c;
    switch (rng.int(5)) {
      case 0: {
        const opaque = rng.bytes(8);
        return [
          { dir, bytes: frame(T.PING, 0, 0, opaque) },
          { dir: other, bytes: frame(T.PING, F.ACK, 0, opaque) },
        ];
      }
      case 1:
        return [
          {
            dir,
            bytes: frame(
              T.WINDOW_UPDATE,
              0,
              opened > 0 && rng.chance(0.5) ? 2 * rng.int(opened) + 1 : 0,
              u32s(rng.range(1, 1 << 20)),
            ),
          },
        ];
      case 2:
        return [
          {
            dir: c,
            bytes: frame(
              T.PRIORITY,
              0,
              2 * rng.int(n) + 1,
              Buffer.concat([u32s(0), Buffer.from([rng.int(256)])]),
            ),
          },
        ];
      case 3:
        return [
          {
            dir,
            bytes: frame(0x20 + rng.int(0xd0), rng.int(256), rng.int(9), rng.bytes(rng.small(40))),
          },
        ];
      default:
        return [
          { dir, bytes: frame(T.SETTINGS, 0, 0, settingsPayload([[4, rng.range(1, 1 << 20)]])) },
          { dir: other, bytes: frame(T.SETTINGS, F.ACK, 0, new Uint8Array(0)) },
        ];
    }
  };
  for (;;) {
    const ready: Array<() => Unit> = [];
    plans.forEach((p, k) => {
      if (reqAt[k]! < p.request.length && (reqAt[k]! > 0 || k === opened))
        ready.push(() => {
          if (reqAt[k] === 0) opened++;
          return p.request[reqAt[k]!++]!;
        });
      else if (reqAt[k]! >= p.request.length && resAt[k]! < p.response.length)
        ready.push(() => p.response[resAt[k]!++]!);
    });
    if (ready.length === 0) break;
    const unit = rng.pick(ready)();
    segments.push({ dir: unit.dir, bytes: unit.build() });
    if (rng.chance(0.06)) segments.push(...control());
  }
  if (rng.chance(0.3))
    segments.push({
      dir: s,
      bytes: frame(T.GOAWAY, 0, 0, Buffer.concat([u32s(2 * n - 1, 0), Buffer.from('bye')])),
    });
  const expected: Expected = { exchanges, ordered: false, unansweredByDesign };
  return { role, segments, expected };
}
