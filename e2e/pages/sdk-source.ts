// @wisp/sdk consumed from source through Vite (as apps/chat will): the `new Worker(new URL(...))`
// pattern in the SDK lets Vite serve the worker module itself. Playwright drives window.WispSource.
import * as Wisp from "@wisp/sdk";

declare global {
  interface Window {
    WispSource?: typeof Wisp;
  }
}

window.WispSource = Wisp;
