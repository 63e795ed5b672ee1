/**
 * `aura data fetch`: a loopback HTTP server (port 0) serves small fixture archives and files built here
 * at test time (zips with yazl); the fetch function gets a fixture spec (URL, kind, prefix, pinned
 * digest). A good download lands and verifies; a truncated or corrupted one, a 404, a non-zip are refused
 * with a typed error naming the URL and what mismatched, and nothing half-written is left beside the
 * destination (an existing good copy is untouched). The pinned real specs are checked against the copies
 * in ../shared (relative to the repository root, as the project reads them; a missing copy fails under
 * CI=true), and the CLI fetches the real Push-T store's bytes from the loopback server with the real spec.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { ZipFile } from "yazl";
import { testNeeding, type OptionalInput } from "./helpers.js";
import {
  DataFetchError,
  fetchDataset,
  hashTree,
  manifestExpectation,
  treeDigest,
  type DataFetchErrorCode,
  type FilesSpec,
  type ManifestEntry,
  type ZipSpec,
} from "../src/data/fetch.js";
import { PANDA_MANIFEST_EXPECTATION, PANDA_SHARED_DIFFERS, PANDA_SPEC, PUSHT_SPEC } from "../src/data/specs.js";
import { DATASET_DEST, SHARED_PATH, locateData } from "../src/data/paths.js";
import { derivePanda } from "../src/sim/scene.js";

const sha = (b: Buffer | string): string => createHash("sha256").update(b).digest("hex");
const tmp = mkdtempSync(join(tmpdir(), "aura-data-"));
let dirN = 0;
/** A fresh data directory. */
const dataDir = (): string => {
  const d = join(tmp, `data-${dirN++}`);
  mkdirSync(d);
  return d;
};

// ---------- fixture: a small zarr-like tree inside a zip, and the same files served one by one ----------

const PREFIX = "pusht/fixture.zarr/";
const MARK = Buffer.from("STORED-CHUNK-FOR-THE-CORRUPTION-TEST:");
const TREE: Record<string, Buffer> = {
  ".zgroup": Buffer.from('{\n    "zarr_format": 2\n}'),
  "data/x/.zarray": Buffer.from('{"chunks":[64],"dtype":"<f4"}'),
  "data/x/0": Buffer.from(Array.from({ length: 64 * 1024 }, (_, i) => (i * 7919) % 251)),
  "meta/ends/0": Buffer.concat([MARK, Buffer.from(Array.from({ length: 4000 }, (_, i) => i % 256))]),
};
const FIXTURE_ENTRIES: ManifestEntry[] = Object.entries(TREE).map(([path, b]) => ({ path, size: b.length, sha256: sha(b) }));

async function zipBuffer(files: [string, Buffer, boolean][]): Promise<Buffer> {
  const z = new ZipFile();
  for (const [name, b, compress] of files) z.addBuffer(b, name, { compress });
  z.end();
  const chunks: Buffer[] = [];
  for await (const c of z.outputStream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

let goodZip: Buffer;
let corruptZip: Buffer;

// ---------- the loopback server ----------

type Mode = "ok" | "truncate" | "cut-chunked" | "flaky" | "redirect";
interface Route {
  body: Buffer;
  mode: Mode;
  to?: string;
}
const routes = new Map<string, Route>();
const hits = new Map<string, number>();
let server: http.Server;
let base = "";

function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
  const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
  const n = (hits.get(path) ?? 0) + 1;
  hits.set(path, n);
  const r = routes.get(path);
  if (!r) {
    res.writeHead(404, { "content-type": "text/plain" }).end("not found");
    return;
  }
  switch (r.mode) {
    case "redirect":
      res.writeHead(302, { location: r.to! }).end();
      return;
    case "flaky":
      if (n === 1) {
        res.writeHead(503).end("busy");
        return;
      }
      res.writeHead(200, { "content-length": r.body.length }).end(r.body);
      return;
    case "truncate": // announces the full length, sends half, cuts the connection
      res.writeHead(200, { "content-length": r.body.length });
      res.write(r.body.subarray(0, r.body.length >> 1), () => res.socket?.destroy());
      return;
    case "cut-chunked": // no Content-Length (chunked), cut mid-body
      res.writeHead(200);
      res.write(r.body.subarray(0, r.body.length >> 1), () => res.socket?.destroy());
      return;
    default:
      res.writeHead(200, { "content-length": r.body.length }).end(r.body);
  }
}

before(async () => {
  const files = Object.entries(TREE).map(([p, b]): [string, Buffer, boolean] => [PREFIX + p, b, p !== "meta/ends/0"]);
  // a file outside the prefix, which the fetch must ignore
  files.unshift(["pusht/README.txt", Buffer.from("not part of the store"), true]);
  goodZip = await zipBuffer(files);
  // one byte flipped inside the stored (uncompressed) chunk: the zip still opens (yauzl does not check CRCs)
  corruptZip = Buffer.from(goodZip);
  const at = corruptZip.indexOf(MARK);
  assert.ok(at > 0, "marker present in the stored entry");
  corruptZip[at + MARK.length + 10]! ^= 0xff;

  routes.set("/ok.zip", { body: goodZip, mode: "ok" });
  routes.set("/corrupt.zip", { body: corruptZip, mode: "ok" });
  routes.set("/truncated.zip", { body: goodZip, mode: "truncate" });
  routes.set("/cut.zip", { body: goodZip, mode: "cut-chunked" });
  routes.set("/flaky.zip", { body: goodZip, mode: "flaky" });
  routes.set("/moved.zip", { body: Buffer.alloc(0), mode: "redirect", to: "/ok.zip" });
  routes.set("/page.zip", { body: Buffer.from("<html>not a zip</html>"), mode: "ok" });
  for (const [p, b] of Object.entries(TREE)) {
    routes.set(`/files/${p}`, { body: b, mode: "ok" });
    const bad = Buffer.from(b);
    if (p === "data/x/0") bad[100]! ^= 1;
    routes.set(`/badfiles/${p}`, { body: bad, mode: "ok" });
  }
  // one file of the good set comes through a redirect
  routes.set("/files/data/x/.zarray", { body: Buffer.alloc(0), mode: "redirect", to: "/blob/zarray" });
  routes.set("/blob/zarray", { body: TREE["data/x/.zarray"]!, mode: "ok" });

  server = http.createServer(handle);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(tmp, { recursive: true, force: true });
});

const zipSpec = (url: string): ZipSpec => ({
  name: "fixture",
  title: "test fixture",
  kind: "zip",
  url,
  stripPrefix: PREFIX,
  dest: "data/fixture.zarr",
  license: "test",
  expect: manifestExpectation(FIXTURE_ENTRIES),
});
const filesSpec = (baseUrl: string): FilesSpec => ({
  name: "fixture-files",
  title: "test fixture (files)",
  kind: "files",
  baseUrl,
  manifest: FIXTURE_ENTRIES,
  dest: "models/fixture",
  license: "test",
  expect: manifestExpectation(FIXTURE_ENTRIES),
});
const FAST = { attempts: 2, backoffMs: 1 };

/** Assert `p` rejects with a DataFetchError of `code` whose message matches `re`. */
async function rejectsWith(p: Promise<unknown>, code: DataFetchErrorCode, re: RegExp): Promise<DataFetchError> {
  let err: unknown;
  await assert.rejects(p, (e: unknown) => {
    err = e;
    return true;
  });
  assert.ok(err instanceof DataFetchError, `expected a DataFetchError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  assert.match(err.message, re);
  return err;
}

/** Names in the destination's parent folder (temporary entries would show here). */
const listing = (dir: string, dest: string): string[] => {
  const parent = join(dir, ...dest.split("/").slice(0, -1));
  return existsSync(parent) ? readdirSync(parent).sort() : [];
};

function assertTreeIsFixture(root: string): void {
  for (const [p, b] of Object.entries(TREE)) assert.deepEqual(readFileSync(join(root, ...p.split("/"))), b, p);
}

test("treeDigest: SHA-256 of the sorted `path\\tsha256\\n` lines; hashTree of a tree agrees with its manifest", async () => {
  const lines = FIXTURE_ENTRIES.map((e) => `${e.path}\t${e.sha256}\n`).sort();
  assert.equal(treeDigest([...FIXTURE_ENTRIES].reverse()), sha(lines.join("")));
  const root = join(tmp, "tree");
  for (const [p, b] of Object.entries(TREE)) {
    mkdirSync(join(root, ...p.split("/").slice(0, -1)), { recursive: true });
    writeFileSync(join(root, ...p.split("/")), b);
  }
  const h = await hashTree(root);
  assert.deepEqual(
    { files: h.files, bytes: h.bytes, treeSha256: h.treeSha256 },
    manifestExpectation(FIXTURE_ENTRIES),
  );
});

test("zip: a good download lands verified at <dir>/<dest>, ignoring entries outside the prefix; a second fetch finds it and downloads nothing", async () => {
  const dir = dataDir();
  const lines: string[] = [];
  const r = await fetchDataset(zipSpec(`${base}/moved.zip`), { dataDir: dir, ...FAST, log: (l) => lines.push(l) });
  assert.equal(r.status, "fetched");
  assert.equal(r.path, join(dir, "data", "fixture.zarr"));
  assert.equal(r.downloadedBytes, goodZip.length);
  assert.equal(r.treeSha256, manifestExpectation(FIXTURE_ENTRIES).treeSha256);
  assertTreeIsFixture(r.path);
  assert.ok(!existsSync(join(r.path, "README.txt")) && !existsSync(join(dir, "data", "README.txt")));
  assert.deepEqual(listing(dir, "data/fixture.zarr"), ["fixture.zarr"], "no temporary file or folder is left");
  assert.ok(lines.some((l) => l.includes("verified")));

  const before = hits.get("/ok.zip");
  const again = await fetchDataset(zipSpec(`${base}/ok.zip`), { dataDir: dir, ...FAST });
  assert.equal(again.status, "present");
  assert.equal(again.downloadedBytes, 0);
  assert.equal(hits.get("/ok.zip"), before, "nothing downloaded when a verified copy is there");
});

test("zip: a truncated download (Content-Length announced, connection cut) is refused after retrying; nothing is left", async () => {
  const dir = dataDir();
  hits.delete("/truncated.zip");
  const url = `${base}/truncated.zip`;
  await rejectsWith(fetchDataset(zipSpec(url), { dataDir: dir, ...FAST }), "TRUNCATED", new RegExp(`${url.replace(/[.]/g, "\\.")}.*cut after \\d+ bytes of the ${goodZip.length}`));
  assert.equal(hits.get("/truncated.zip"), 2, "a cut transfer is retried (attempts: 2)");
  assert.deepEqual(listing(dir, "data/fixture.zarr"), [], "no destination, no temporary entry");
});

test("zip: a body cut without a Content-Length is refused too", async () => {
  const dir = dataDir();
  await rejectsWith(fetchDataset(zipSpec(`${base}/cut.zip`), { dataDir: dir, attempts: 1 }), "TRUNCATED", /cut\.zip.*cut after/);
  assert.deepEqual(listing(dir, "data/fixture.zarr"), []);
});

test("zip: one corrupted byte is refused (tree digest); an existing good copy is untouched even with --force", async () => {
  const dir = dataDir();
  const good = await fetchDataset(zipSpec(`${base}/ok.zip`), { dataDir: dir, ...FAST });
  const beforeTree = await hashTree(good.path);
  const err = await rejectsWith(
    fetchDataset(zipSpec(`${base}/corrupt.zip`), { dataDir: dir, ...FAST, force: true }),
    "DIGEST_MISMATCH",
    /does not match the pinned checksum: expected 4 files, \d+ bytes, tree sha256 [0-9a-f]{64}; got 4 files, \d+ bytes, tree sha256 [0-9a-f]{64}/,
  );
  assert.match(err.message, /fixture/);
  assert.deepEqual(await hashTree(good.path), beforeTree, "the good copy is exactly as it was");
  assert.deepEqual(listing(dir, "data/fixture.zarr"), ["fixture.zarr"], "no temporary entry is left");
  // into an empty directory: nothing at all
  const empty = dataDir();
  await rejectsWith(fetchDataset(zipSpec(`${base}/corrupt.zip`), { dataDir: empty, ...FAST }), "DIGEST_MISMATCH", /tree sha256/);
  assert.deepEqual(listing(empty, "data/fixture.zarr"), []);
});

test("--force replaces a good copy only with one that verifies", async () => {
  const dir = dataDir();
  const first = await fetchDataset(zipSpec(`${base}/ok.zip`), { dataDir: dir, ...FAST });
  writeFileSync(join(first.path, "stray"), "x"); // make the copy differ, then refetch
  const r = await fetchDataset(zipSpec(`${base}/ok.zip`), { dataDir: dir, ...FAST, force: true });
  assert.equal(r.status, "fetched");
  assert.ok(!existsSync(join(r.path, "stray")));
  assertTreeIsFixture(r.path);
  assert.deepEqual(listing(dir, "data/fixture.zarr"), ["fixture.zarr"]);
});

test("an existing copy that does not verify is reported, not overwritten, without --force", async () => {
  const dir = dataDir();
  const dest = join(dir, "data", "fixture.zarr");
  mkdirSync(dest, { recursive: true });
  writeFileSync(join(dest, ".zgroup"), "mine");
  await rejectsWith(fetchDataset(zipSpec(`${base}/ok.zip`), { dataDir: dir, ...FAST }), "EXISTS_INVALID", /fixture\.zarr exists but does not verify.*--force/);
  assert.equal(readFileSync(join(dest, ".zgroup"), "utf8"), "mine");
});

test("a 404 is a clear HTTP error naming the URL, not retried", async () => {
  const dir = dataDir();
  hits.delete("/missing.zip");
  const err = await rejectsWith(fetchDataset(zipSpec(`${base}/missing.zip`), { dataDir: dir, attempts: 3, backoffMs: 1 }), "HTTP_STATUS", /GET http:\/\/127\.0\.0\.1:\d+\/missing\.zip: HTTP 404/);
  assert.equal(err.status, 404);
  assert.equal(hits.get("/missing.zip"), 1);
  assert.deepEqual(listing(dir, "data/fixture.zarr"), []);
});

test("a 503 is retried and the download then succeeds; a refused connection is a NETWORK error", async () => {
  const dir = dataDir();
  hits.delete("/flaky.zip");
  const r = await fetchDataset(zipSpec(`${base}/flaky.zip`), { dataDir: dir, ...FAST });
  assert.equal(r.status, "fetched");
  assert.equal(hits.get("/flaky.zip"), 2);
  // a port nobody listens on: take one from a server and close it
  const s = http.createServer();
  await new Promise<void>((res) => s.listen(0, "127.0.0.1", res));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((res) => s.close(() => res()));
  const other = dataDir();
  await rejectsWith(fetchDataset(zipSpec(`http://127.0.0.1:${port}/x.zip`), { dataDir: other, ...FAST }), "NETWORK", new RegExp(`127\\.0\\.0\\.1:${port}/x\\.zip`));
  assert.deepEqual(listing(other, "data/fixture.zarr"), []);
});

test("a body that is not a zip is refused as BAD_ARCHIVE", async () => {
  const dir = dataDir();
  await rejectsWith(fetchDataset(zipSpec(`${base}/page.zip`), { dataDir: dir, ...FAST }), "BAD_ARCHIVE", /page\.zip: not a readable zip archive/);
  assert.deepEqual(listing(dir, "data/fixture.zarr"), []);
});

test("files: every manifest file is fetched (redirects followed) and verified; one corrupted file is refused by name, nothing left", async () => {
  const dir = dataDir();
  const r = await fetchDataset(filesSpec(`${base}/files/`), { dataDir: dir, ...FAST });
  assert.equal(r.status, "fetched");
  assert.equal(r.path, join(dir, "models", "fixture"));
  assertTreeIsFixture(r.path);
  assert.equal(hits.get("/blob/zarray"), 1, "the redirect was followed");
  assert.deepEqual(listing(dir, "models/fixture"), ["fixture"]);

  const bad = dataDir();
  await rejectsWith(fetchDataset(filesSpec(`${base}/badfiles`), { dataDir: bad, ...FAST }), "DIGEST_MISMATCH", /badfiles\/data\/x\/0: data\/x\/0 has sha256 [0-9a-f]{64}, pinned [0-9a-f]{64}/);
  assert.deepEqual(listing(bad, "models/fixture"), []);
});

test("temporary entries of a killed run (dead pid) are removed by the next run", async () => {
  const dir = dataDir();
  const deadPid = spawnSync(process.execPath, ["-e", ""]).pid!;
  const parent = join(dir, "data");
  mkdirSync(join(parent, `.fixture.zarr.partial-${deadPid}-0badf00d`, "data"), { recursive: true });
  writeFileSync(join(parent, `.fixture.zarr.download-${deadPid}-0badf00d`), "half");
  writeFileSync(join(parent, ".fixture.zarr.unrelated"), "kept"); // not our pattern: kept
  await fetchDataset(zipSpec(`${base}/ok.zip`), { dataDir: dir, ...FAST });
  assert.deepEqual(readdirSync(parent).sort(), [".fixture.zarr.unrelated", "fixture.zarr"]);
});

test("locateData: an explicit path wins, then ../shared, then the data directory; paths are absolute", () => {
  const root = join(tmp, "locate");
  const cwd = join(root, "repo");
  const dd = join(root, "cache");
  mkdirSync(cwd, { recursive: true });
  assert.deepEqual(locateData("pusht", undefined, { cwd, dataDir: dd }), { path: join(root, "shared", "data", "pusht_cchi_v7_replay.zarr"), source: "missing" });
  mkdirSync(join(dd, ...DATASET_DEST.pusht.split("/")), { recursive: true });
  writeFileSync(join(dd, ...DATASET_DEST.pusht.split("/"), ".zgroup"), "{}");
  assert.deepEqual(locateData("pusht", undefined, { cwd, dataDir: dd }), { path: join(dd, "data", "pusht_cchi_v7_replay.zarr"), source: "fetched" });
  mkdirSync(join(root, "shared", "data", "pusht_cchi_v7_replay.zarr"), { recursive: true });
  writeFileSync(join(root, "shared", "data", "pusht_cchi_v7_replay.zarr", ".zgroup"), "{}");
  assert.deepEqual(locateData("pusht", undefined, { cwd, dataDir: dd }), { path: join(root, "shared", "data", "pusht_cchi_v7_replay.zarr"), source: "shared" });
  assert.deepEqual(locateData("pusht", "mine.zarr", { cwd, dataDir: dd }), { path: join(cwd, "mine.zarr"), source: "option" });
  assert.equal(locateData("panda", undefined, { cwd, dataDir: dd }).source, "missing");
});

// ---------- the pinned real specs against the copies in ../shared ----------

const SHARED_PANDA: OptionalInput = {
  name: "the MuJoCo Menagerie Panda in ../shared",
  present: existsSync(join(SHARED_PATH.panda, "panda.xml")),
  hint: `expected at ${SHARED_PATH.panda} (relative to the repository root; docs/sim.md#data)`,
};
const SHARED_PUSHT: OptionalInput = {
  name: "the Push-T store in ../shared",
  present: existsSync(join(SHARED_PATH.pusht, ".zgroup")),
  hint: `expected at ${SHARED_PATH.pusht} (relative to the repository root; docs/sim.md#data)`,
};

test("pinned Panda spec: the written-out expectation is the manifest's; sources are the pinned Menagerie commit", () => {
  assert.deepEqual(PANDA_SPEC.expect, PANDA_MANIFEST_EXPECTATION);
  assert.equal(PANDA_SPEC.manifest.length, 74);
  assert.equal(new Set(PANDA_SPEC.manifest.map((e) => e.path)).size, 74);
  assert.match(PANDA_SPEC.baseUrl, /^https:\/\/raw\.githubusercontent\.com\/google-deepmind\/mujoco_menagerie\/[0-9a-f]{40}\/franka_emika_panda$/);
  assert.equal(PUSHT_SPEC.url, "https://diffusion-policy.cs.columbia.edu/data/training/pusht.zip");
});

testNeeding(SHARED_PANDA, "pinned Panda spec = ../shared's copy, file by file (but the two files mjctrl edited), and every file the sim reads is verified", {}, async () => {
  const shared = await hashTree(SHARED_PATH.panda);
  const have = new Map(shared.entries.map((e) => [e.path, e]));
  const matched = new Set<string>();
  for (const e of PANDA_SPEC.manifest) {
    const h = have.get(e.path);
    assert.ok(h, `${e.path} is missing from ${SHARED_PATH.panda}`);
    if (PANDA_SHARED_DIFFERS.includes(e.path)) continue;
    assert.equal(h.sha256, e.sha256, `${e.path}: sha256 in ../shared differs from the pin`);
    assert.equal(h.size, e.size, e.path);
    matched.add(e.path);
  }
  assert.equal(matched.size, 72);
  const { meshFiles } = derivePanda(readFileSync(join(SHARED_PATH.panda, "panda.xml"), "utf8"));
  assert.ok(meshFiles.length > 0);
  for (const f of ["panda.xml", ...meshFiles.map((m) => `assets/${m}`)]) assert.ok(matched.has(f), `${f} (read by the sim) is pinned and verified`);
});

testNeeding(SHARED_PUSHT, "pinned Push-T spec = the tree digest, file count and bytes of ../shared's pusht_cchi_v7_replay.zarr", {}, async () => {
  const h = await hashTree(SHARED_PATH.pusht);
  assert.deepEqual({ files: h.files, bytes: h.bytes, treeSha256: h.treeSha256 }, PUSHT_SPEC.expect);
});

// ---------- the CLI, with the real Push-T spec, from the loopback server ----------

function cli(args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // async spawn: this process's event loop must keep serving the loopback requests
    const p = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], { env: { ...process.env, ...env } });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    p.on("error", reject);
    p.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

testNeeding(SHARED_PUSHT, "aura data fetch pusht --url <loopback> --dir: the real pinned spec accepts the real store's bytes and says where it put them", { timeout: 180_000 }, async () => {
  const shared = await hashTree(SHARED_PATH.pusht);
  const files: [string, Buffer, boolean][] = shared.entries.map((e) => [`pusht/pusht_cchi_v7_replay.zarr/${e.path}`, readFileSync(join(SHARED_PATH.pusht, ...e.path.split("/"))), false]);
  routes.set("/real/pusht.zip", { body: await zipBuffer(files), mode: "ok" });
  const dir = dataDir();
  const r = await cli(["data", "fetch", "pusht", "--dir", dir, "--url", `${base}/real/pusht.zip`]);
  assert.equal(r.status, 0, r.stderr);
  const dest = join(dir, "data", "pusht_cchi_v7_replay.zarr");
  assert.match(r.stdout, new RegExp(`pusht: fetched at ${dest.replace(/[.]/g, "\\.")} \\(819 files, 31010783 bytes, tree sha256 ${PUSHT_SPEC.expect.treeSha256} verified`));
  const got = await hashTree(dest);
  assert.equal(got.treeSha256, PUSHT_SPEC.expect.treeSha256);
  assert.deepEqual(listing(dir, DATASET_DEST.pusht), ["pusht_cchi_v7_replay.zarr"]);
  routes.delete("/real/pusht.zip");
});

test("aura data fetch: a 404 exits non-zero with a DataFetchError naming the URL; an unknown name is refused; `where` lists both", { timeout: 120_000 }, async () => {
  const dir = dataDir();
  const r = await cli(["data", "fetch", "panda", "--dir", dir, "--url", `${base}/nothing-here`, "--attempts", "1"]);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /DataFetchError: GET http:\/\/127\.0\.0\.1:\d+\/nothing-here\/\S+: HTTP 404/);
  assert.deepEqual(listing(dir, DATASET_DEST.panda), [], "nothing left beside the destination");
  const u = await cli(["data", "fetch", "nope", "--dir", dir]);
  assert.equal(u.status, 2);
  assert.match(u.stderr, /unknown data set "nope" \(valid: panda, pusht\)/);
  const w = await cli(["data", "where"], { AURA_DATA_DIR: dir });
  assert.equal(w.status, 0, w.stderr);
  assert.match(w.stdout, new RegExp(`data directory: ${dir.replace(/[.]/g, "\\.")}`));
  assert.match(w.stdout, /^panda\t(shared|fetched|missing)\t/m);
  assert.match(w.stdout, /^pusht\t(shared|fetched|missing)\t/m);
});
