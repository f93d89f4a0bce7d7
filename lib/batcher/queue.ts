/**
 * Small containers for the batcher: a FIFO with O(1) push/shift and lazy removal, and a
 * binary min-heap.
 */

/** FIFO of items; items that `isLive` rejects are skipped and dropped lazily. */
export class LazyQueue<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  constructor(private readonly isLive: (item: T) => boolean) {}

  push(item: T): void {
    this.items.push(item);
  }

  /** Drop dead items at the front; compact storage when the dead prefix is large. */
  private trim(): void {
    while (this.head < this.items.length && !this.isLive(this.items[this.head] as T)) {
      this.items[this.head] = undefined;
      this.head++;
    }
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  /** Live items in FIFO order (the iterator tolerates items dying while it runs). */
  *live(): Generator<T> {
    this.trim();
    for (let i = this.head; i < this.items.length; i++) {
      const it = this.items[i] as T;
      if (it !== undefined && this.isLive(it)) yield it;
    }
  }

  /** The first live item, or undefined. */
  peek(): T | undefined {
    this.trim();
    return this.items[this.head];
  }

  /** Visit live items in FIFO order until `fn` returns false; returns false if stopped early. */
  scan(fn: (item: T) => boolean): boolean {
    this.trim();
    const items = this.items;
    for (let i = this.head; i < items.length; i++) {
      const it = items[i];
      if (it !== undefined && this.isLive(it) && !fn(it)) return false;
    }
    return true;
  }

  /** Remove every item (live or not) and return the live ones. */
  drain(): T[] {
    const out: T[] = [];
    for (const it of this.live()) out.push(it);
    this.items = [];
    this.head = 0;
    return out;
  }
}

/** Binary min-heap ordered by `key`. */
export class MinHeap<T> {
  private readonly a: T[] = [];

  constructor(private readonly key: (item: T) => number) {}

  get size(): number {
    return this.a.length;
  }

  peek(): T | undefined {
    return this.a[0];
  }

  push(item: T): void {
    const a = this.a;
    a.push(item);
    let i = a.length - 1;
    const k = this.key(item);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pi = a[p] as T;
      if (this.key(pi) <= k) break;
      a[i] = pi;
      i = p;
    }
    a[i] = item;
  }

  pop(): T | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      let i = 0;
      const k = this.key(last);
      for (;;) {
        const l = 2 * i + 1;
        if (l >= a.length) break;
        const r = l + 1;
        let c = l;
        if (r < a.length && this.key(a[r] as T) < this.key(a[l] as T)) c = r;
        if (this.key(a[c] as T) >= k) break;
        a[i] = a[c] as T;
        i = c;
      }
      a[i] = last;
    }
    return top;
  }

  clear(): void {
    this.a.length = 0;
  }
}
