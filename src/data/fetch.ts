/**
 * Download a data set from its public source, verify it against pinned checksums and move it into place
 * atomically (`aura data fetch`). The spec — where it comes from, how it is packed, what the unpacked tree
 * must hash to — is a parameter ({@link DatasetSpec}); src/data/specs.ts pins the real ones.
 *
 * The guarantee is the unpacked tree: every file's SHA-256, their count and bytes, and one tree digest
 * (SHA-256 over the sorted `path\tsha256\n` lines, {@link treeDigest}) are checked on a staging directory
 * beside the destination before a rename moves it into place. Nothing is written at the destination until
 * that check passes; on any failure the temporary download and staging directory are removed and an
 * existing copy is left exactly as it was.
 *
 *   1. download into `<parent>/.<name>.download-<pid>-<rand>` (zip) or file by file into the staging
 *      directory (files): redirects followed; a body shorter than its Content-Length, or one the connection
 *      cut, is refused (TRUNCATED); network errors, cut transfers and HTTP 408/429/5xx are retried with a
 *      doubling backoff; other HTTP errors are not;
 *   2. unpack (zip, entries under `stripPrefix` only) into `<parent>/.<name>.partial-<pid>-<rand>`;
 *   3. verify the staging tree against the pinned checksums (DIGEST_MISMATCH names what differs);
 *   4. rename it to the destination (with --force an existing copy is renamed aside first and put back
 *      if the second rename fails, then removed).
 * Temporary entries left by a killed run (their pid no longer alive) are removed by the next run.
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, existsSync } from "node:fs";
import { mkdir, readdir, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import * as yauzl from "yauzl";
import { AuraError } from "aura-mem/errors";

/** What went wrong; stable, for callers and tests. */
export type DataFetchErrorCode =
  /** the server answered with an HTTP error status (`status` holds it) */
  | "HTTP_STATUS"
  /** no response: DNS, connection refused, reset before the headers, timeout */
  | "NETWORK"
  /** the body ended before its Content-Length, or the connection was cut mid-body */
  | "TRUNCATED"
  /** a downloaded file's size differs from the pinned size */
  | "SIZE_MISMATCH"
  /** a file's or the unpacked tree's SHA-256 differs from the pinned checksum */
  | "DIGEST_MISMATCH"
  /** the archive cannot be read (not a zip, bad entry, nothing under the expected folder) */
  | "BAD_ARCHIVE"
  /** an entry or manifest path would land outside the destination */
  | "UNSAFE_PATH"
  /** the destination exists but does not match the pinned checksums (and --force was not given) */
  | "EXISTS_INVALID"
  /** a local file-system operation failed */
  | "IO";

/** A typed error of `aura data fetch`; the message names the URL or path and what mismatched. */
export class DataFetchError extends AuraError {
  override name = "DataFetchError";
  constructor(
    readonly code: DataFetchErrorCode,
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** One file of a pinned tree: `path` is relative, `/`-separated. */
export interface ManifestEntry {
  path: string;
  size: number;
  sha256: string;
}

/** What the unpacked tree must be. */
export interface TreeExpectation {
  files: number;
  bytes: number;
  /** {@link treeDigest} of the tree. */
  treeSha256: string;
}

interface SpecBase {
  /** Short name (`aura data fetch <name>`). */
  name: string;
  /** One line: what it is and where it comes from. */
  title: string;
  /** Destination relative to the data directory, `/`-separated (e.g. `models/franka_emika_panda`). */
  dest: string;
  /** License of the data, for the docs and the CLI's message. */
  license: string;
  expect: TreeExpectation;
}

/** A zip archive; the entries under `stripPrefix` become the tree (others are ignored). */
export interface ZipSpec extends SpecBase {
  kind: "zip";
  url: string;
  /** e.g. `pusht/pusht_cchi_v7_replay.zarr/` (with the trailing slash). */
  stripPrefix: string;
}

/** Individual files fetched from `baseUrl + "/" + path`, each checked against its manifest line. */
export interface FilesSpec extends SpecBase {
  kind: "files";
  baseUrl: string;
  manifest: readonly ManifestEntry[];
}

export type DatasetSpec = ZipSpec | FilesSpec;

/** Options of {@link fetchDataset}. */
export interface FetchOptions {
  /** Data directory: the data set lands at `join(dataDir, spec.dest)`. */
  dataDir: string;
  /** Replace the source: the archive URL (zip) or the base URL of the files (files). */
  url?: string;
  /** Fetch again even when a verified copy is already in place (it is replaced only once the new one verifies). */
  force?: boolean;
  /** Tries per request for transient failures (default 4). */
  attempts?: number;
  /** Delay before the first retry in ms, doubling after each (default 500). */
  backoffMs?: number;
  /** Abort a request when no byte arrives for this long (default 60000 ms). */
  idleTimeoutMs?: number;
  /** Parallel downloads of a files spec (default 4). */
  concurrency?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

/** What {@link fetchDataset} did. */
export interface FetchResult {
  name: string;
  /** Absolute path of the verified data set. */
  path: string;
  /** `fetched`: downloaded now; `present`: a copy that verifies was already there (nothing downloaded). */
  status: "fetched" | "present";
  /** The URL downloaded from (the archive, or the base URL of the files). */
  source: string;
  files: number;
  bytes: number;
  treeSha256: string;
  /** Bytes transferred (0 when `present`). */
  downloadedBytes: number;
}

/** The SHA-256 (hex) of the sorted `path\tsha256\n` lines: one digest for a whole tree. */
export function treeDigest(entries: readonly { path: string; sha256: string }[]): string {
  const lines = entries.map((e) => `${e.path}\t${e.sha256}\n`);
  lines.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const h = createHash("sha256");
  for (const l of lines) h.update(l);
  return h.digest("hex");
}

/** A hashed tree: every regular file under a root, sorted by path. */
export interface TreeSummary extends TreeExpectation {
  entries: ManifestEntry[];
}

async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  await pipeline(createReadStream(path), h);
  return h.digest("hex");
}

/** Hash every file under `root` (symbolic links followed; `/`-separated relative paths). */
export async function hashTree(root: string): Promise<TreeSummary> {
  const entries: ManifestEntry[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    const names = (await readdir(dir)).sort();
    for (const n of names) {
      const p = join(dir, n);
      const r = rel ? `${rel}/${n}` : n;
      const st = await stat(p);
      if (st.isDirectory()) await walk(p, r);
      else if (st.isFile()) entries.push({ path: r, size: st.size, sha256: await sha256File(p) });
    }
  };
  await walk(root, "");
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { entries, files: entries.length, bytes: entries.reduce((s, e) => s + e.size, 0), treeSha256: treeDigest(entries) };
}

/** The expectation a manifest implies. */
export function manifestExpectation(manifest: readonly ManifestEntry[]): TreeExpectation {
  return { files: manifest.length, bytes: manifest.reduce((s, e) => s + e.size, 0), treeSha256: treeDigest(manifest) };
}

const short = (h: string): string => h.slice(0, 12);

/**
 * Check the tree at `root` against the spec's pinned checksums.
 * @throws DataFetchError DIGEST_MISMATCH naming the files that differ (files specs) or the counts and digests.
 */
export async function verifyTree(root: string, spec: DatasetSpec): Promise<TreeSummary> {
  const got = await hashTree(root);
  if (spec.kind === "files") {
    const want = new Map(spec.manifest.map((e) => [e.path, e]));
    const have = new Map(got.entries.map((e) => [e.path, e]));
    const problems: string[] = [];
    for (const [p, w] of want) {
      const h = have.get(p);
      if (!h) problems.push(`${p} missing`);
      else if (h.size !== w.size || h.sha256 !== w.sha256) problems.push(`${p} has ${h.size} bytes sha256 ${short(h.sha256)}..., pinned ${w.size} bytes sha256 ${short(w.sha256)}...`);
    }
    for (const p of have.keys()) if (!want.has(p)) problems.push(`${p} is not in the pinned manifest`);
    if (problems.length > 0) {
      const more = problems.length > 5 ? ` (and ${problems.length - 5} more)` : "";
      throw new DataFetchError("DIGEST_MISMATCH", `${spec.name}: ${root} does not match the pinned manifest: ${problems.slice(0, 5).join("; ")}${more}`);
    }
  }
  const e = spec.expect;
  if (got.files !== e.files || got.bytes !== e.bytes || got.treeSha256 !== e.treeSha256) {
    throw new DataFetchError(
      "DIGEST_MISMATCH",
      `${spec.name}: ${root} does not match the pinned checksum: expected ${e.files} files, ${e.bytes} bytes, tree sha256 ${e.treeSha256}; ` +
        `got ${got.files} files, ${got.bytes} bytes, tree sha256 ${got.treeSha256}`,
    );
  }
  return got;
}

/** Throw UNSAFE_PATH unless `rel` is a plain relative `/`-separated path inside its root. */
function checkRelPath(rel: string, where: string): void {
  const parts = rel.split("/");
  if (rel.startsWith("/") || /^[A-Za-z]:/.test(rel) || rel.includes("\\") || rel.includes("\0") || parts.some((s) => s === "" || s === "." || s === "..")) {
    throw new DataFetchError("UNSAFE_PATH", `${where}: refusing the path "${rel}" (absolute, empty segment, or outside the destination)`);
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function describe(e: unknown): string {
  if (e instanceof Error) {
    const cause = (e as { cause?: unknown }).cause;
    const c = cause instanceof Error ? `: ${cause.message}` : "";
    return `${e.message}${c}`;
  }
  return String(e);
}

interface Downloaded {
  bytes: number;
  sha256: string;
}

/** One GET of `url` into `file` (created or truncated), checking Content-Length. */
async function downloadOnce(url: string, file: string, idleTimeoutMs: number): Promise<Downloaded> {
  const ctl = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => ctl.abort(new Error(`no data for ${idleTimeoutMs} ms`)), idleTimeoutMs);
  };
  arm();
  try {
    let res: Response;
    try {
      // identity: a Content-Length then counts the bytes we receive (fetch would decode gzip silently)
      res = await fetch(url, { redirect: "follow", headers: { "accept-encoding": "identity" }, signal: ctl.signal });
    } catch (e) {
      throw new DataFetchError("NETWORK", `GET ${url} failed: ${describe(e)}`, undefined, { cause: e });
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw new DataFetchError("HTTP_STATUS", `GET ${url}: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`, res.status);
    }
    if (!res.body) throw new DataFetchError("TRUNCATED", `GET ${url}: the response has no body`);
    const enc = res.headers.get("content-encoding");
    const lenHeader = res.headers.get("content-length");
    const declared = (enc === null || enc === "identity") && lenHeader !== null && /^\d+$/.test(lenHeader) ? Number(lenHeader) : null;
    const hash = createHash("sha256");
    let n = 0;
    const count = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        arm();
        hash.update(chunk);
        n += chunk.length;
        cb(null, chunk);
      },
    });
    let writeFailed: unknown = null;
    const out = createWriteStream(file);
    out.on("error", (e) => (writeFailed = e));
    try {
      await pipeline(Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>), count, out);
    } catch (e) {
      if (writeFailed) throw new DataFetchError("IO", `writing ${file}: ${describe(writeFailed)}`, undefined, { cause: writeFailed });
      const of = declared !== null ? ` of the ${declared} its Content-Length announced` : "";
      throw new DataFetchError("TRUNCATED", `GET ${url}: the transfer was cut after ${n} bytes${of} (${describe(e)})`, undefined, { cause: e });
    }
    if (declared !== null && n !== declared) {
      throw new DataFetchError("TRUNCATED", `GET ${url}: got ${n} bytes, Content-Length announced ${declared}`);
    }
    return { bytes: n, sha256: hash.digest("hex") };
  } finally {
    clearTimeout(timer);
  }
}

function retryable(e: unknown): boolean {
  if (!(e instanceof DataFetchError)) return false;
  if (e.code === "NETWORK" || e.code === "TRUNCATED") return true;
  return e.code === "HTTP_STATUS" && e.status !== undefined && (e.status === 408 || e.status === 429 || e.status >= 500);
}

/** GET with retries of transient failures (network, cut transfers, 408/429/5xx), doubling the delay. */
async function download(url: string, file: string, o: Required<Pick<FetchOptions, "attempts" | "backoffMs" | "idleTimeoutMs">> & { log: (l: string) => void }): Promise<Downloaded> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await downloadOnce(url, file, o.idleTimeoutMs);
    } catch (e) {
      await rm(file, { force: true });
      if (!retryable(e) || attempt >= o.attempts) throw e;
      const wait = o.backoffMs * 2 ** (attempt - 1);
      o.log(`  ${(e as Error).message}; retry ${attempt}/${o.attempts - 1} in ${wait} ms`);
      await sleep(wait);
    }
  }
}

/** Unpack the entries of `archive` under `prefix` into `dir`; returns the number of files written. */
async function unzipInto(archive: string, dir: string, prefix: string, url: string): Promise<number> {
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.openPromise(archive, { lazyEntries: true, autoClose: false, strictFileNames: true });
  } catch (e) {
    throw new DataFetchError("BAD_ARCHIVE", `${url}: not a readable zip archive (${describe(e)})`, undefined, { cause: e });
  }
  let n = 0;
  try {
    for await (const entry of zip.eachEntry()) {
      const name = entry.fileName;
      if (!name.startsWith(prefix) || name.endsWith("/")) continue; // other folders; directory entries
      const rel = name.slice(prefix.length);
      checkRelPath(rel, url);
      const out = join(dir, ...rel.split("/"));
      await mkdir(dirname(out), { recursive: true });
      const rs = await zip.openReadStreamPromise(entry);
      await pipeline(rs, createWriteStream(out, { flags: "wx" })); // wx: a duplicate entry fails
      n++;
    }
  } catch (e) {
    if (e instanceof DataFetchError) throw e;
    throw new DataFetchError("BAD_ARCHIVE", `${url}: cannot unpack the archive (${describe(e)})`, undefined, { cause: e });
  } finally {
    zip.close();
  }
  if (n === 0) throw new DataFetchError("BAD_ARCHIVE", `${url}: the archive has no files under ${prefix}`);
  return n;
}

/** Download every manifest file into `dir`, checking each file's size and SHA-256 as it lands. */
async function fetchFiles(spec: FilesSpec, base: string, dir: string, o: Parameters<typeof download>[2] & { concurrency: number }): Promise<number> {
  const root = base.replace(/\/+$/, "");
  for (const e of spec.manifest) checkRelPath(e.path, `${spec.name} manifest`);
  let next = 0;
  let total = 0;
  let failed: unknown = null;
  const worker = async (): Promise<void> => {
    while (failed === null && next < spec.manifest.length) {
      const e = spec.manifest[next++]!;
      const url = `${root}/${e.path.split("/").map(encodeURIComponent).join("/")}`;
      const out = join(dir, ...e.path.split("/"));
      try {
        await mkdir(dirname(out), { recursive: true });
        const got = await download(url, out, o);
        if (got.bytes !== e.size) throw new DataFetchError("SIZE_MISMATCH", `GET ${url}: ${e.path} has ${got.bytes} bytes, pinned ${e.size}`);
        if (got.sha256 !== e.sha256) throw new DataFetchError("DIGEST_MISMATCH", `GET ${url}: ${e.path} has sha256 ${got.sha256}, pinned ${e.sha256}`);
        total += got.bytes;
      } catch (err) {
        failed ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.concurrency, spec.manifest.length)) }, worker));
  if (failed !== null) throw failed;
  return total;
}

const TEMP_RE = (base: string): RegExp => new RegExp(`^\\.${base.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\.(download|partial|old)-(\\d+)-[0-9a-f]+$`);

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Remove what a killed run left beside `dest`; an `.old-` copy is put back if `dest` is gone (killed mid-swap). */
async function cleanStale(dest: string): Promise<void> {
  const parent = dirname(dest);
  const re = TEMP_RE(basename(dest));
  for (const n of await readdir(parent)) {
    const m = re.exec(n);
    if (!m || alive(Number(m[2]))) continue;
    const p = join(parent, n);
    if (m[1] === "old" && !existsSync(dest)) await rename(p, dest);
    else await rm(p, { recursive: true, force: true });
  }
}

/**
 * Fetch `spec` into `opts.dataDir`, verify it, move it into place; see the file comment.
 * @throws DataFetchError (its `code` says what failed; nothing half-written is left behind).
 */
export async function fetchDataset(spec: DatasetSpec, opts: FetchOptions): Promise<FetchResult> {
  const log = opts.log ?? ((): void => undefined);
  const o = {
    attempts: Math.max(1, opts.attempts ?? 4),
    backoffMs: Math.max(0, opts.backoffMs ?? 500),
    idleTimeoutMs: opts.idleTimeoutMs ?? 60_000,
    concurrency: opts.concurrency ?? 4,
    log,
  };
  checkRelPath(spec.dest, `${spec.name} destination`);
  const dest = join(opts.dataDir, ...spec.dest.split("/"));
  const parent = dirname(dest);
  const source = opts.url ?? (spec.kind === "zip" ? spec.url : spec.baseUrl);
  try {
    await mkdir(parent, { recursive: true });
    await cleanStale(dest);
  } catch (e) {
    throw new DataFetchError("IO", `${spec.name}: cannot prepare ${parent}: ${describe(e)}`, undefined, { cause: e });
  }

  if (existsSync(dest) && !opts.force) {
    let got: TreeSummary;
    try {
      got = await verifyTree(dest, spec);
    } catch (e) {
      const why = e instanceof DataFetchError ? e.message : describe(e);
      throw new DataFetchError("EXISTS_INVALID", `${spec.name}: ${dest} exists but does not verify (${why}); move it away or pass --force to replace it`, undefined, { cause: e });
    }
    log(`${spec.name}: ${dest} is already there and verifies`);
    return { name: spec.name, path: dest, status: "present", source, files: got.files, bytes: got.bytes, treeSha256: got.treeSha256, downloadedBytes: 0 };
  }

  const tag = `${process.pid}-${randomBytes(4).toString("hex")}`;
  const base = basename(dest);
  const archive = join(parent, `.${base}.download-${tag}`);
  const staging = join(parent, `.${base}.partial-${tag}`);
  try {
    await mkdir(staging);
    let downloaded: number;
    if (spec.kind === "zip") {
      log(`${spec.name}: downloading ${source}`);
      const got = await download(source, archive, o);
      downloaded = got.bytes;
      // the archive's own checksum is not pinned (see specs.ts): the unpacked tree is what is verified
      log(`${spec.name}: ${got.bytes} bytes (archive sha256 ${got.sha256}); unpacking ${spec.stripPrefix}`);
      await unzipInto(archive, staging, spec.stripPrefix, source);
      await rm(archive, { force: true });
    } else {
      log(`${spec.name}: downloading ${spec.manifest.length} files from ${source}`);
      downloaded = await fetchFiles(spec, source, staging, o);
    }
    const got = await verifyTree(staging, spec);
    log(`${spec.name}: ${got.files} files, ${got.bytes} bytes, tree sha256 ${got.treeSha256} verified`);
    await swapIntoPlace(staging, dest, tag);
    return { name: spec.name, path: dest, status: "fetched", source, files: got.files, bytes: got.bytes, treeSha256: got.treeSha256, downloadedBytes: downloaded };
  } catch (e) {
    if (e instanceof DataFetchError) throw e;
    throw new DataFetchError("IO", `${spec.name}: ${describe(e)}`, undefined, { cause: e });
  } finally {
    await rm(archive, { force: true }).catch(() => undefined);
    await rm(staging, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** Rename the verified `staging` to `dest`; an existing `dest` is renamed aside first and restored if that fails. */
async function swapIntoPlace(staging: string, dest: string, tag: string): Promise<void> {
  if (!existsSync(dest)) {
    await rename(staging, dest);
    return;
  }
  const old = join(dirname(dest), `.${basename(dest)}.old-${tag}`);
  await rename(dest, old);
  try {
    await rename(staging, dest);
  } catch (e) {
    await rename(old, dest);
    throw e;
  }
  await rm(old, { recursive: true, force: true });
}
