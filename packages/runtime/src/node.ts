// The Node-only surface of @wisp/runtime (imported as "@wisp/runtime/node"; never from browser code).
export { folderSource } from "./loader/node-files.ts";
export { nodeGpu } from "./node-gpu.ts";
export {
  defaultCacheDir,
  fileSystemBackend,
  type OpenFileModelStoreOptions,
  openFileModelStore,
} from "./store/fs.ts";
export { fileTuneCache } from "./store/tune-file.ts";
