// Splits a character stream into lines (newline-delimited JSON framing), keeping the unfinished tail.

export class LineSplitter {
  private tail = '';

  /** Feeds a chunk; calls onLine for each complete line (without its newline). */
  push(chunk: string, onLine: (line: string) => void): void {
    this.tail += chunk;
    let nl: number;
    while ((nl = this.tail.indexOf('\n')) >= 0) {
      const line = this.tail.slice(0, nl);
      this.tail = this.tail.slice(nl + 1);
      onLine(line);
    }
  }

  /** Characters received after the last newline. */
  get pending(): number {
    return this.tail.length;
  }
}
