/**
 * The protocol seam: what every protocol implements so the parser stage can detect it on a
 * connection's first bytes and follow the connection with it. The stage owns the connection
 * table, the bytes held for detection, the response timer and the counters common to all; a
 * protocol owns its framing, its request/response pairing and its own counters.
 */
import type {
  ApiExchange,
  ConnectionInfo,
  Direction,
  HttpRequest,
  Role,
  Stats,
} from '@traceable-ebpf/core';
import type { BodyBudget } from './shared/body-budget.js';

/** What a protocol's detector sees of a connection that has no parser yet. */
export interface DetectInput {
  /** Which way the bytes travelled, seen from the captured process. */
  readonly direction: Direction;
  /** Every byte seen so far in `direction`: those held from earlier events, then `data`. */
  readonly bytes: Uint8Array;
  /** This event's bytes alone (a protocol that writes whole frames per event is judged on it). */
  readonly data: Uint8Array;
  /** The captured process's side, when known (from the socket or /proc). */
  readonly role: Role;
  /** Opened before capture began, or bytes were lost before parsing: `bytes` may start mid-message. */
  readonly midStream: boolean;
}

/** A detector's answer. */
export type Detection =
  | {
      /** Not this protocol. */
      readonly verdict: 'no';
    }
  | {
      /** Could be, the bytes are too few to tell: hold them and ask again with the next ones. */
      readonly verdict: 'more';
    }
  | {
      /** This protocol: the stage creates its parser. */
      readonly verdict: 'yes';
      /** The captured process's side (inferred from the bytes when it was unknown). */
      readonly role: Exclude<Role, 'unknown'>;
      /** Where parsing starts in `bytes`; what comes before it is counted as skipped. */
      readonly at: number;
      /**
       * The bytes held for the other direction: fed to the parser first (`feed`: they are that
       * direction's start), or counted as skipped (`drop`).
       */
      readonly other: 'feed' | 'drop';
      /** The direction whose message start was found (a mid-stream parser need not search it). */
      readonly synced?: Direction;
      /** The bytes show the connection's very start (say, a client preface): not mid-stream. */
      readonly fromStart?: boolean;
    };

/** What the stage shares with the parsers it creates: limits, counters, the way out. */
export interface ParserContext {
  /** Where the counters go. */
  readonly stats: Stats;
  /** Body bytes kept per message; sizes are always counted in full. */
  readonly maxBodyBytes: number;
  /** Header bytes kept per message (or header block). */
  readonly maxHeaderBytes: number;
  /** Unanswered requests kept per connection. */
  readonly maxPendingRequests: number;
  /** Body bytes held by unfinished exchanges, shared by every connection of the stage. */
  readonly budget: BodyBudget;
  /** Delivers an exchange downstream. */
  readonly emit: (exchange: ApiExchange | undefined) => void;
  /** Does a registered protocol take a connection upgraded to `token` (`Upgrade: h2c`)? */
  readonly upgradesTo: (token: string) => boolean;
}

/** How a connection's parser starts. */
export interface ParserStart {
  /** The captured process's side. */
  readonly role: Exclude<Role, 'unknown'>;
  /** What exchanges report of the connection. */
  readonly connection: () => ConnectionInfo;
  /** Bytes may start mid-message: each direction starts by looking for a message start. */
  readonly midStream: boolean;
  /** The direction whose message start was found (see {@link Detection}). */
  readonly synced?: Direction;
  /**
   * Bytes of this direction were lost before parsing started, on a connection seen from its
   * start: its first message may be gone (exchanges are partial, pairing keeps its place).
   */
  readonly lostBefore?: Direction;
}

/** A connection switching from one protocol to another (HTTP/1.1 `Upgrade`, RFC 9110 §7.8). */
export interface ProtocolUpgrade {
  /** The protocol token both sides agreed on, in lower case (`h2c`). */
  readonly token: string;
  /** The request that asked for the upgrade, when it was parsed. */
  readonly request?: HttpRequest;
  /** Bytes that came after the switch, in order, for the new protocol's parser. */
  readonly pending: ReadonlyArray<{
    /** Which way they travelled. */
    readonly direction: Direction;
    /** The bytes. */
    readonly bytes: Uint8Array;
    /** When the kernel saw them (ns). */
    readonly tsNs: number;
  }>;
}

/** What a parser asks of the stage after a feed. */
export type ParserOutcome =
  /** Go on. */
  | undefined
  /**
   * Stop following the connection: not this protocol after all, or it can't be followed
   * (`unsupported`), or it switched to a protocol nobody parses (`upgraded`). The rest of its
   * bytes are counted and dropped, and the source is told to stop copying them.
   */
  | {
      /** Why: not this protocol or can't be followed (`unsupported`), or switched (`upgraded`). */
      readonly stop: 'unsupported' | 'upgraded';
    }
  | {
      /** Hand the connection to the protocol registered for `upgrade.token`. */
      readonly upgrade: ProtocolUpgrade;
    };

/** One connection followed by one protocol: bytes in, exchanges out through the context. */
export interface ConnectionParser {
  /** The next bytes of one direction, seen by the kernel at `tsNs` (ns). */
  feed(direction: Direction, data: Uint8Array, tsNs: number): ParserOutcome;
  /** `length` bytes of one direction will never be seen. */
  gap(direction: Direction, length: number, tsNs: number): void;
  /** Reports requests unanswered `timeoutMs` (ms) before `nowMs` (ms, wall clock). */
  expire(nowMs: number, timeoutMs: number): void;
  /**
   * The connection ended (`tsNs`, 0 when the stage completes): what is open is reported, a
   * message cut short counted. Also called once a parser has stopped, when its connection
   * ends, to report what it still holds.
   */
  close(tsNs: number): void;
  /**
   * Another protocol takes the connection while this parser is {@link tentative}: bytes it
   * holds are counted as dropped, nothing is reported.
   */
  abandon(): void;
  /** Frees what the parser holds, counting nothing (the stage was unsubscribed). */
  dispose(): void;
  /** Still looking for its first message start: another protocol may claim the connection. */
  readonly tentative: boolean;
}

/** A protocol the parser stage can detect and follow. */
export interface Protocol {
  /** Its name, as exchanges report it in `protocol` (`http1`, `http2`, `redis`…). */
  readonly name: string;
  /** Judges a connection's first bytes in one direction. */
  detect(input: DetectInput): Detection;
  /**
   * Claims a connection joined mid-stream that another protocol's {@link ConnectionParser} is
   * still searching (it is {@link ConnectionParser.tentative}), from one event's bytes.
   */
  join?(input: DetectInput): Detection;
  /** A parser for a connection detected as this protocol. */
  create(start: ParserStart, ctx: ParserContext): ConnectionParser;
  /** `Upgrade` tokens this protocol takes a connection over for (`h2c`). */
  readonly upgradeTokens?: readonly string[];
  /** A parser for a connection that switched to this protocol (see {@link upgradeTokens}). */
  upgraded?(upgrade: ProtocolUpgrade, start: ParserStart, ctx: ParserContext): ConnectionParser;
}
