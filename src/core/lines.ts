// Splits a character stream into lines (newline-delimited JSON framing), keeping the unfinished tail.

export class LineSplitter {
  /** The pieces of the line not yet ended, joined once its newline comes: a long line costs O(length), not O(length²). */
  private parts: string[] = [];
  private size = 0;

  /** Feeds a chunk; calls onLine for each complete line (without its newline). Only the new chunk is searched. */
  push(chunk: string, onLine: (line: string) => void): void {
    let start = 0;
    let nl: number;
    while ((nl = chunk.indexOf('\n', start)) >= 0) {
      let line = chunk.slice(start, nl);
      if (this.parts.length > 0) {
        this.parts.push(line);
        line = this.parts.join('');
        this.parts = [];
        this.size = 0;
      }
      start = nl + 1;
      onLine(line);
    }
    if (start < chunk.length) {
      this.parts.push(start === 0 ? chunk : chunk.slice(start));
      this.size += chunk.length - start;
      // A client dripping tiny writes would make one array entry (~10 bytes of heap) per character: fold the pieces
      // into one string now and then, so the heap stays near the characters held (and the work stays linear).
      if (this.parts.length > 64) this.parts = [this.parts.join('')];
    }
  }

  /** Characters received after the last newline. */
  get pending(): number {
    return this.size;
  }
}
