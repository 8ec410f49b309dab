// Types for the parts of the `macaroon` package (v3, ships none) that the LND test peer uses.
declare module 'macaroon' {
  interface Macaroon {
    exportBinary(): Uint8Array;
    verify(rootKey: Uint8Array, check: (caveat: string) => string | null, discharges?: Macaroon[]): void;
  }
  const macaroon: {
    newMacaroon(args: { identifier: Uint8Array | string; location: string; rootKey: Uint8Array; version: 1 | 2 }): Macaroon;
    importMacaroon(bytes: Uint8Array | string): Macaroon;
  };
  export default macaroon;
}
