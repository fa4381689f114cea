/**
 * The body bytes a parser stage keeps for exchanges not yet reported, shared by every connection
 * and every protocol of the stage.
 */

/**
 * Body bytes held until their exchange is reported (HTTP/1 requests waiting for responses,
 * HTTP/2 streams still open), shared by every connection of one parser stage: past `max`, bytes
 * are counted in the sizes but not kept.
 */
export interface BodyBudget {
  /** Body bytes held now. */
  held: number;
  /** Body bytes that may be held at most. */
  readonly max: number;
  /** Called when a body is not kept for the budget. */
  readonly onDrop: () => void;
}

/** A budget without a limit (a parser used on its own). */
export function unlimitedBudget(): BodyBudget {
  return { held: 0, max: Infinity, onDrop: () => {} };
}
