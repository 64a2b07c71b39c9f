// The weight store in Chromium: @wisp/runtime from source through Vite; Playwright calls
// window.WispRuntime.openModelStore() and friends with page.evaluate.
import * as Runtime from "@wisp/runtime";

declare global {
  interface Window {
    WispRuntime?: typeof Runtime;
  }
}

window.WispRuntime = Runtime;
