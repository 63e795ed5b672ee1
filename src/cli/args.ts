/** Argument parsers of the `aura` CLI's options (commander), shared by every command module. */
import { InvalidArgumentError } from "commander";

/** An integer >= `min` (1e6 notation is fine); empty text is refused. */
export function intArg(name: string, min = 0) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isInteger(n) || n < min) {
      throw new InvalidArgumentError(min === 0 ? `${name} must be a non-negative integer (1e6 is fine)` : `${name} must be an integer >= ${min}`);
    }
    return n;
  };
}

/** A finite number >= `min` (or > `min` with `exclusive`); empty text is refused. */
export function numArg(name: string, min = 0, exclusive = false) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isFinite(n) || n < min || (exclusive && n === min)) {
      throw new InvalidArgumentError(`${name} must be a number ${exclusive ? ">" : ">="} ${min}`);
    }
    return n;
  };
}

/** A comma-separated list ("a, b,c" -> ["a", "b", "c"]). */
export function listArg(v: string): string[] {
  return v.split(",").map((s) => s.trim()).filter(Boolean);
}
