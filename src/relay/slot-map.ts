// Rooms keyed by the djb2 hash of their ID (the source document's slot assignment), with collisions kept apart:
// a slot holds every room whose ID hashes to it, and lookups always compare the full ID.
import { djb2 } from '../common/token.ts';

export class SlotMap<V> {
  private readonly slots = new Map<number, Array<{ id: string; value: V }>>();
  private count = 0;

  static slotOf(id: string): number {
    return djb2(id);
  }

  get size(): number {
    return this.count;
  }

  get(id: string): V | undefined {
    const bucket = this.slots.get(djb2(id));
    if (bucket === undefined) return undefined;
    for (const entry of bucket) if (entry.id === id) return entry.value;
    return undefined;
  }

  set(id: string, value: V): void {
    const slot = djb2(id);
    const bucket = this.slots.get(slot);
    if (bucket === undefined) {
      this.slots.set(slot, [{ id, value }]);
      this.count++;
      return;
    }
    for (const entry of bucket) {
      if (entry.id === id) {
        entry.value = value;
        return;
      }
    }
    bucket.push({ id, value });
    this.count++;
  }

  delete(id: string): boolean {
    const slot = djb2(id);
    const bucket = this.slots.get(slot);
    if (bucket === undefined) return false;
    const i = bucket.findIndex((e) => e.id === id);
    if (i < 0) return false;
    bucket.splice(i, 1);
    if (bucket.length === 0) this.slots.delete(slot);
    this.count--;
    return true;
  }

  *entries(): IterableIterator<[string, V]> {
    for (const bucket of this.slots.values()) for (const { id, value } of bucket) yield [id, value];
  }
}
