/**
 * A first-in first-out list whose `shift` costs O(1) (an array's costs O(n)): it holds the
 * export queue's batches that were never sent yet.
 */

/** A first-in first-out list with O(1) shift. */
export class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  /** Items in the list. */
  get length(): number {
    return this.items.length - this.head;
  }

  /** Adds `item` at the end. */
  push(item: T): void {
    this.items.push(item);
  }

  /** The first item, left in the list; undefined when empty. */
  peek(): T | undefined {
    return this.items[this.head];
  }

  /** Takes the first item off; undefined when empty. */
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined as T;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Takes every item off, first first. */
  drainAll(): T[] {
    const out = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return out;
  }
}
