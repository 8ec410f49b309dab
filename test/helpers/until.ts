// Polling for a condition that another process makes true, with a bound: f returns undefined while it is not yet.

/** Calls f every 25 ms until it returns a value (which is returned); fails naming `what` after `tries` calls. */
export async function until<T>(what: string, f: () => Promise<T | undefined>, tries = 400): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await f();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`gave up waiting: ${what}`);
}
