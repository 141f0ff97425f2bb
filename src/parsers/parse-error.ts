// One error type for every parser here, so callers can tell "the tool printed something we do not
// understand" (report it, touch nothing) from a failure to run the tool.
export class ParseError extends Error {
  constructor(what: string, detail: string) {
    super(`Cannot parse ${what}: ${detail}`);
    this.name = 'ParseError';
  }
}
