// The module worker the SDK starts: the runtime lives here, never on the page's thread.
import { LocalWispBackend } from "./backend/local.ts";
import { exposeBackend } from "./transport.ts";

exposeBackend(new LocalWispBackend());
