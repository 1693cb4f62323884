/** Listeners of one kind of event: `add` returns the function that removes the listener; `emit` calls each
 * (over a copy, so a listener may remove itself). */
export class Listeners<E> {
  private readonly set = new Set<(event: E) => void>()

  add(listener: (event: E) => void): () => void {
    this.set.add(listener)
    return () => { this.set.delete(listener) }
  }

  emit(event: E): void {
    for (const listener of [...this.set]) listener(event)
  }
}
