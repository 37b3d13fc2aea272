/**
 * The delivery ids this process acknowledged recently, oldest dropped first beyond `capacity`. A fast
 * path only: it forgets on restart, so the durable deduplication is the database's (the callback goes
 * through the inbound path, which applies each delivery id once).
 */
export class RecentDeliveries {
  readonly #ids = new Map<string, true>();

  constructor(readonly capacity = 10_000) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError("capacity must be a positive integer");
    }
  }

  has(id: string): boolean {
    return this.#ids.has(id);
  }

  /** Adds `id`; returns false when it was already there. */
  add(id: string): boolean {
    if (this.#ids.has(id)) return false;
    if (this.#ids.size >= this.capacity) this.#ids.delete(this.#ids.keys().next().value!);
    this.#ids.set(id, true);
    return true;
  }

  /** Forgets `id`, so a redelivery of it is processed again (after the work failed). */
  delete(id: string): void {
    this.#ids.delete(id);
  }

  get size(): number {
    return this.#ids.size;
  }
}
