/**
 * Stand-in for the Node built-ins (node:fs, node:path, node:url, node:crypto, node:fs/promises)
 * that some library modules import at top level for their Node-only helpers (loading build/aura.wasm
 * from disk, writing checkpoint files). The browser build aliases those imports here
 * (web/vite.config.ts); the page never calls them: it instantiates the kernels from fetched bytes
 * and decodes checkpoints from bytes. Calling one throws a clear error instead of failing silently.
 */
function unavailable(name: string): never {
  throw new Error(`${name} is a Node API and is not available in the browser build of aura-mem`);
}
const fn = (name: string) => (..._args: unknown[]): never => unavailable(name);

export const readFileSync = fn("fs.readFileSync");
export const existsSync = (): boolean => false;
export const fileURLToPath = fn("url.fileURLToPath");
export const pathToFileURL = fn("url.pathToFileURL");
export const dirname = fn("path.dirname");
export const resolve = fn("path.resolve");
export const basename = fn("path.basename");
export const join = fn("path.join");
export const open = fn("fs/promises.open");
export const readFile = fn("fs/promises.readFile");
export const writeFile = fn("fs/promises.writeFile");
export const rename = fn("fs/promises.rename");
export const unlink = fn("fs/promises.unlink");
export const stat = fn("fs/promises.stat");
export const mkdir = fn("fs/promises.mkdir");
export const randomBytes = fn("crypto.randomBytes");
export const createHash = fn("crypto.createHash");
export default {};
