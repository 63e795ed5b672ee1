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

/**
 * A threshold band "lo,hi" with 0 <= lo <= hi <= 1, or "none" (kept as the text: commander stores a parser's
 * null as ""); {@link bandValue} turns it into the value.
 */
export function bandArg(name: string) {
  return (v: string): [number, number] | "none" => {
    if (v.trim() === "none") return "none";
    const parts = v.split(",").map((s) => s.trim());
    const [lo, hi] = parts.map(Number) as [number, number];
    if (parts.length !== 2 || parts.some((s) => s === "") || !(lo >= 0 && lo <= hi && hi <= 1)) {
      throw new InvalidArgumentError(`${name} must be "lo,hi" with 0 <= lo <= hi <= 1, or "none"`);
    }
    return [lo, hi];
  };
}

/** The band a {@link bandArg} option gave: undefined when absent, null for "none". */
export function bandValue(v: [number, number] | "none" | undefined): [number, number] | null | undefined {
  return v === "none" ? null : v;
}
