/** The two directions of a connection as a protocol sees them. */
import type { Direction, Role } from '@traceable-ebpf/core';

/** The direction requests travel in, seen from the captured process (a client sends them). */
export function requestDirection(role: Exclude<Role, 'unknown'>): Direction {
  return role === 'client' ? 'send' : 'recv';
}

/** The other direction. */
export function otherDirection(direction: Direction): Direction {
  return direction === 'send' ? 'recv' : 'send';
}
