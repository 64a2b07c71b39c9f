// A module worker from a URL. Browsers refuse `new Worker(url)` for another origin (a CDN), but a
// same-origin Blob module may import a cross-origin script served with CORS, as CDNs serve it.
export function startWorker(url: URL): Worker {
  const options: WorkerOptions = { type: "module", name: "wisp" };
  if (typeof location === "undefined" || url.origin === location.origin || url.protocol === "blob:") {
    return new Worker(url, options);
  }
  const shim = new Blob([`import ${JSON.stringify(url.href)};\n`], { type: "text/javascript" });
  return new Worker(URL.createObjectURL(shim), options);
}
