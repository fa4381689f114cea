// The slice of the WebAssembly JS API the llhttp binding uses (@types/node 20 doesn't declare it,
// and the DOM lib would bring in browser globals).
declare namespace WebAssembly {
  class Module {
    constructor(bytes: Uint8Array);
  }
  class Memory {
    readonly buffer: ArrayBuffer;
  }
  class Instance {
    constructor(module: Module, imports: Record<string, Record<string, unknown>>);
    readonly exports: Record<string, unknown>;
  }
}
