// Resumable, verified downloads into a ModelStore.
//
// A file is fetched in fixed-size chunks with HTTP range requests, several at once; each chunk is one
// record, written only once all its bytes arrived, so after a network cut or a page reload a download
// goes on with only the chunks that are missing. The manifest records a file (size, chunk size, hash,
// ETag) before any of its chunks is written; chunks found for a file the manifest does not record
// are dropped, never trusted.
//
// Consistency: every chunk must come with the file's ETag (asked with If-Range when the ETag is
// strong). A different ETag means the file changed on the server: its stored chunks are dropped and it
// starts again with the new one. Verification before a file counts as complete: its bytes, read back
// from the store, must hash to the expected SHA-256 when one is known (Hugging Face's LFS oid, the
// caller's, or an X-Linked-ETag header); otherwise size + ETag consistency is what is checked.
// A mismatch drops the file's chunks and fetches it again (`integrityRetries`), then IntegrityError.
// The manifest never says "complete" for bytes that were not verified.

import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex } from "@noble/hashes/utils.js";
import { Aborted, IntegrityError, NetworkError, QuotaExceeded, WispError } from "../errors.ts";
import { missingFile } from "../loader/source.ts";
import { formatBytes } from "./backend.ts";
import { chunkCount, chunkLength, type ModelStore } from "./store.ts";
import { DEFAULT_CHUNK_SIZE, type DownloadOptions, type RemoteFile, type StoredFile } from "./types.ts";

interface FileState {
  remote: RemoteFile;
  info: StoredFile;
  done: Set<number>;
  /** Bumped when the file restarts; chunks fetched for an older generation are thrown away. */
  generation: number;
  integrityLeft: number;
  restartsLeft: number;
  /** Serializes this file's chunk writes and restarts. */
  lock: Promise<unknown>;
}

/** The file changed on the server while (or since) it was being downloaded. */
class ChangedOnServer extends Error {
  constructor(readonly etag: string | undefined) {
    super("changed on server");
  }
}
/** A failure worth retrying (network error, 5xx, short body). */
class Retryable extends Error {}

const HEX64 = /^[0-9a-f]{64}$/;
const REPORTED_QUOTA_CAP = 10 * 1024 ** 3;
const strongEtag = (e: string | undefined): e is string => e !== undefined && !e.startsWith("W/");

function serialize<T>(fs: FileState, f: () => Promise<T>): Promise<T> {
  const next = fs.lock.then(f, f);
  fs.lock = next.catch(() => {});
  return next;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

export async function downloadFiles(
  store: ModelStore,
  id: string,
  remotes: RemoteFile[],
  options: DownloadOptions,
): Promise<void> {
  const backend = store.backend;
  const userSignal = options.signal;
  const aborted = () =>
    new Aborted(`the download of "${id}" was aborted; what was stored so far is kept for a resume`, {
      model: id,
    });
  if (userSignal?.aborted) throw aborted();
  await store.opened();

  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) throw new RangeError(`bad chunkSize ${chunkSize}`);
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const retries = Math.max(0, options.retries ?? 4);
  const retryDelay = Math.max(0, options.retryDelayMs ?? 500);
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);

  // Stops every worker after the first fatal error; the user's signal stops them too.
  const internal = new AbortController();
  const signal = userSignal ? AbortSignal.any([userSignal, internal.signal]) : internal.signal;
  let failure: unknown;
  const fail = (e: unknown) => {
    failure ??= e;
    internal.abort();
  };

  async function request(remote: RemoteFile, headers: Record<string, string>): Promise<Response> {
    let res: Response;
    try {
      res = await doFetch(remote.url, { headers: { ...options.headers, ...headers }, signal });
    } catch (cause) {
      if (signal.aborted) throw userSignal?.aborted ? aborted() : cause;
      throw new Retryable(`fetching "${remote.name}" failed: ${String(cause)}`, { cause });
    }
    if (res.status === 404 || res.status === 410) {
      await res.body?.cancel().catch(() => {});
      throw missingFile(remote.name, { url: remote.url, status: res.status });
    }
    if (res.status >= 500 || res.status === 429 || res.status === 408) {
      await res.body?.cancel().catch(() => {});
      throw new Retryable(`fetching "${remote.name}" failed: HTTP ${res.status} ${res.statusText}`);
    }
    return res;
  }

  /** Runs `f`, retrying Retryable failures with exponential backoff; the last one → NetworkError. */
  async function withRetries<T>(remote: RemoteFile, what: string, f: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await f();
      } catch (e) {
        if (userSignal?.aborted) throw aborted();
        if (!(e instanceof Retryable)) throw e;
        if (attempt >= retries || signal.aborted) {
          throw new NetworkError(
            `downloading ${what} of "${remote.name}" failed after ${attempt + 1} attempt${attempt ? "s" : ""}: ${e.message}`,
            { file: remote.name, url: remote.url, attempts: attempt + 1 },
            { cause: e },
          );
        }
        await sleep(Math.min(8000, retryDelay * 2 ** attempt), signal);
      }
    }
  }

  /** Size and ETag of a file whose size the caller did not give: a 1-byte range request. */
  async function probe(remote: RemoteFile): Promise<{ size: number; etag?: string; linked?: string }> {
    return withRetries(remote, "the size", async () => {
      const res = await request(remote, { Range: "bytes=0-0" });
      await res.body?.cancel().catch(() => {});
      let size: number | undefined;
      if (res.status === 206) {
        const m = res.headers.get("content-range")?.match(/\/\s*(\d+)\s*$/);
        if (m) size = Number(m[1]);
      } else if (res.status === 416) {
        size = 0;
      } else if (res.ok) {
        const len = res.headers.get("content-length");
        if (len !== null) size = Number(len);
      } else {
        throw new NetworkError(`fetching "${remote.name}" failed: HTTP ${res.status} ${res.statusText}`, {
          file: remote.name,
          status: res.status,
        });
      }
      if (size === undefined || !Number.isSafeInteger(size)) {
        throw new NetworkError(`the server did not report the size of "${remote.name}"`, {
          file: remote.name,
        });
      }
      const etag = res.headers.get("etag") ?? undefined;
      const linked = linkedSha(res);
      return { size, ...(etag ? { etag } : {}), ...(linked ? { linked } : {}) };
    });
  }

  // ---- plan: what each file has, what is missing --------------------------------------------------
  const states = new Map<string, FileState>();
  for (const remote of remotes) {
    if (states.has(remote.name)) continue;
    const stored = (await store.manifest(id))?.files[remote.name];
    const sha = remote.sha256?.toLowerCase();
    if (
      stored?.complete &&
      (remote.size === undefined || remote.size === stored.size) &&
      (!sha || !stored.sha256 || sha === stored.sha256)
    ) {
      states.set(remote.name, {
        remote,
        info: stored,
        done: new Set(Array.from({ length: chunkCount(stored) }, (_, i) => i)),
        generation: 0,
        integrityLeft: 0,
        restartsLeft: 0,
        lock: Promise.resolve(),
      });
      continue;
    }
    let info: StoredFile | undefined = stored;
    let size = remote.size ?? stored?.size;
    let linked: string | undefined;
    if (remote.size === undefined) {
      const p = await probe(remote);
      linked = p.linked;
      // A recorded ETag the server no longer sends: the file changed since the last session.
      if (stored && (p.size !== stored.size || (stored.etag && p.etag && p.etag !== stored.etag))) {
        info = undefined;
      }
      size = p.size;
    }
    if (info && (info.size !== size || (sha && info.sha256 && info.sha256 !== sha))) info = undefined;
    if (!info) {
      // Not recorded (or stale): chunks left for it by an interrupted deleteFiles are never trusted.
      await backend.deleteChunks(id, remote.name);
      info = { size: size!, chunkSize, url: remote.url, complete: false };
    }
    const expected = sha ?? (linked && HEX64.test(linked) ? linked : undefined) ?? info.sha256;
    info = { ...info, complete: false, url: remote.url, ...(expected ? { sha256: expected } : {}) };
    const n = chunkCount(info);
    const done = new Set((await backend.chunkIndices(id, remote.name)).filter((i) => i < n));
    states.set(remote.name, {
      remote,
      info,
      done,
      generation: 0,
      integrityLeft: Math.max(0, options.integrityRetries ?? 1),
      restartsLeft: 2,
      lock: Promise.resolve(),
    });
  }
  const pending = [...states.values()].filter((s) => !s.info.complete);
  if (pending.length > 0) {
    await store.update(id, (m) => {
      for (const s of pending) m.files[s.remote.name] = { ...s.info };
      m.complete = false;
    });
  }

  // ---- quota: refuse up front when the estimate clearly says it cannot fit ------------------------
  const storedBytes = (s: FileState) => [...s.done].reduce((a, i) => a + chunkLength(s.info, i), 0);
  const total = [...states.values()].reduce((a, s) => a + s.info.size, 0);
  let loaded = [...states.values()].reduce((a, s) => a + (s.info.complete ? s.info.size : storedBytes(s)), 0);
  const needed = total - loaded;
  if (needed > 0 && options.checkQuota !== false) {
    const e = await backend.estimate().catch(() => undefined);
    if (e && Number.isFinite(e.quota)) {
      const available = Math.max(0, e.quota - e.usage);
      // Chrome (since 138) reports quota = usage + min(10 GiB, disk) whatever the real quota is (so that
      // the estimate does not reveal the browsing mode); a reported 10 GiB or more is not a limit, and
      // the write itself raises QuotaExceeded if the real quota is hit.
      if (needed > available && (e.exact === true || available < REPORTED_QUOTA_CAP)) {
        throw new QuotaExceeded(
          `not enough storage for "${id}": ${formatBytes(needed)} still to download but only ${formatBytes(available)} available (${formatBytes(e.usage)} of ${formatBytes(e.quota)} used); delete cached models or free space`,
          { model: id, needed, available, usage: e.usage, quota: e.quota },
        );
      }
    }
  }

  const progress = (s: FileState) => {
    try {
      options.onProgress?.({
        file: s.remote.name,
        fileLoaded: storedBytes(s),
        fileTotal: s.info.size,
        loaded,
        total,
        fraction: total === 0 ? 1 : loaded / total,
      });
    } catch {}
  };

  // ---- the work queue: missing chunks of every file; verification when a file's last one lands ----
  const queue: Array<{ s: FileState; index: number; generation: number }> = [];
  const enqueueMissing = (s: FileState) => {
    for (let i = 0; i < chunkCount(s.info); i++) {
      if (!s.done.has(i)) queue.push({ s, index: i, generation: s.generation });
    }
  };

  /** Drops every chunk of a file and queues it again from the start (ETag change, failed hash). */
  async function restart(s: FileState, etag: string | undefined): Promise<void> {
    await serialize(s, async () => {
      s.generation++;
      loaded -= storedBytes(s);
      s.done.clear();
      await backend.deleteChunks(id, s.remote.name);
      const { etag: _old, ...rest } = s.info;
      s.info = { ...rest, ...(etag ? { etag } : {}), complete: false };
      await store.update(id, (m) => {
        m.files[s.remote.name] = { ...s.info };
        m.complete = false;
      });
    });
    enqueueMissing(s);
  }

  async function verify(s: FileState): Promise<void> {
    const name = s.remote.name;
    const n = chunkCount(s.info);
    const hash = s.info.sha256 ? sha256.create() : undefined;
    let bytes = 0;
    let problem: string | undefined;
    for (let i = 0; i < n && !problem; i++) {
      const c = await backend.getChunk(id, name, i);
      if (!c || c.length !== chunkLength(s.info, i)) problem = `stored chunk ${i} is missing or short`;
      else {
        hash?.update(c);
        bytes += c.length;
      }
    }
    if (!problem && bytes !== s.info.size) problem = `${bytes} bytes stored instead of ${s.info.size}`;
    const actual = hash && !problem ? bytesToHex(hash.digest()) : undefined;
    if (!problem && hash && actual !== s.info.sha256) problem = "hash mismatch";
    if (!problem) {
      s.info = { ...s.info, complete: true, verified: hash ? "sha256" : s.info.etag ? "size+etag" : "size" };
      await store.update(id, (m) => {
        m.files[name] = { ...s.info };
      });
      return;
    }
    const details = {
      file: name,
      model: id,
      size: s.info.size,
      ...(s.info.sha256 ? { expectedSha256: s.info.sha256 } : {}),
      ...(actual ? { actualSha256: actual } : {}),
      reason: problem,
    };
    if (s.integrityLeft > 0) {
      s.integrityLeft--;
      await restart(s, s.info.etag);
      return;
    }
    // Dropped so that the next attempt fetches it again instead of re-verifying the same bad bytes.
    await restart(s, undefined);
    queue.length = 0;
    throw new IntegrityError(
      problem === "hash mismatch"
        ? `"${name}" failed verification: its SHA-256 is ${actual} but ${s.info.sha256} was expected; the downloaded bytes were dropped`
        : `"${name}" failed verification (${problem}); the downloaded bytes were dropped`,
      details,
    );
  }

  async function fetchChunk(s: FileState, index: number): Promise<{ bytes: Uint8Array; etag?: string }> {
    const { remote } = s;
    const start = index * s.info.chunkSize;
    const end = start + chunkLength(s.info, index);
    return withRetries(remote, `bytes ${start}-${end - 1}`, async () => {
      const headers: Record<string, string> = { Range: `bytes=${start}-${end - 1}` };
      if (strongEtag(s.info.etag)) headers["If-Range"] = s.info.etag;
      const res = await request(remote, headers);
      const etag = res.headers.get("etag") ?? undefined;
      if (s.info.etag && etag && etag !== s.info.etag) {
        await res.body?.cancel().catch(() => {});
        throw new ChangedOnServer(etag);
      }
      if (res.status === 416) {
        await res.body?.cancel().catch(() => {});
        throw new ChangedOnServer(etag);
      }
      let body: Uint8Array;
      try {
        if (res.status === 206) {
          const m = res.headers.get("content-range")?.match(/bytes\s+(\d+)-(\d+)\/(\d+|\*)/);
          if (m && (Number(m[1]) !== start || (m[3] !== "*" && Number(m[3]) !== s.info.size))) {
            await res.body?.cancel().catch(() => {});
            if (m[3] !== "*" && Number(m[3]) !== s.info.size) throw new ChangedOnServer(etag);
            throw new Retryable(`the server answered bytes ${m[1]}-${m[2]} for ${start}-${end - 1}`);
          }
          body = new Uint8Array(await res.arrayBuffer());
        } else if (res.ok) {
          // The server ignored Range: correct, only slower (the whole file for one chunk).
          const all = new Uint8Array(await res.arrayBuffer());
          if (all.length !== s.info.size) throw new ChangedOnServer(etag);
          body = all.slice(start, end);
        } else {
          await res.body?.cancel().catch(() => {});
          throw new NetworkError(`fetching "${remote.name}" failed: HTTP ${res.status} ${res.statusText}`, {
            file: remote.name,
            url: remote.url,
            status: res.status,
          });
        }
      } catch (e) {
        if (e instanceof WispError || e instanceof ChangedOnServer || e instanceof Retryable) throw e;
        if (userSignal?.aborted) throw aborted();
        // The connection dropped in the middle of the body.
        throw new Retryable(`the connection broke while reading "${remote.name}": ${String(e)}`, {
          cause: e,
        });
      }
      if (body.length !== end - start) {
        throw new Retryable(`got ${body.length} bytes of "${remote.name}" for a ${end - start}-byte range`);
      }
      return { bytes: body, ...(etag ? { etag } : {}) };
    });
  }

  async function runTask(task: { s: FileState; index: number; generation: number }): Promise<void> {
    const { s, index } = task;
    if (task.generation !== s.generation || s.done.has(index)) return;
    let got: { bytes: Uint8Array; etag?: string };
    try {
      got = await fetchChunk(s, index);
    } catch (e) {
      if (!(e instanceof ChangedOnServer)) throw e;
      if (task.generation !== s.generation) return; // someone restarted it already
      if (s.restartsLeft-- <= 0) {
        throw new NetworkError(`"${s.remote.name}" keeps changing on the server; try again later`, {
          file: s.remote.name,
          url: s.remote.url,
        });
      }
      await restart(s, e.etag);
      return;
    }
    const finished = await serialize(s, async () => {
      if (task.generation !== s.generation || s.done.has(index)) return false;
      if (got.etag && !s.info.etag) {
        // The first ETag seen for this file: recorded before its chunk, so a resume compares with it.
        s.info = { ...s.info, etag: got.etag };
        await store.update(id, (m) => {
          m.files[s.remote.name] = { ...s.info };
        });
      } else if (got.etag && s.info.etag !== got.etag) {
        return "changed" as const;
      }
      await backend.putChunk(id, s.remote.name, index, got.bytes);
      s.done.add(index);
      loaded += got.bytes.length;
      progress(s);
      return s.done.size === chunkCount(s.info);
    });
    if (finished === "changed") {
      await restart(s, got.etag);
      return;
    }
    if (finished) await verify(s);
  }

  async function worker(): Promise<void> {
    while (!signal.aborted) {
      const task = queue.shift();
      if (!task) return;
      try {
        await runTask(task);
      } catch (e) {
        fail(e);
        return;
      }
    }
  }

  // Files whose chunks were all stored before (an interruption between the last write and the
  // verification) are verified first; the others queue their missing chunks.
  try {
    for (const s of pending) {
      if (s.done.size === chunkCount(s.info)) await verify(s);
      else enqueueMissing(s);
    }
    while (queue.length > 0 && !signal.aborted) {
      await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, worker));
    }
  } catch (e) {
    fail(e);
  }
  if (userSignal?.aborted && !(failure instanceof WispError && !(failure instanceof Aborted)))
    throw aborted();
  if (failure !== undefined) {
    if (failure instanceof WispError) throw failure;
    throw new WispError(
      `downloading "${id}" into ${backend.description} failed: ${String(failure)}`,
      { model: id },
      { cause: failure },
    );
  }
  for (const s of pending) {
    if (!s.info.complete) {
      throw new WispError(`"${s.remote.name}" was not completed (internal error: nothing left to fetch)`, {
        file: s.remote.name,
      });
    }
  }
}

/** Hugging Face's X-Linked-ETag (the LFS sha256 of the file) when the response exposes it. */
function linkedSha(res: Response): string | undefined {
  const v = res.headers.get("x-linked-etag")?.replace(/^W\//, "").replaceAll('"', "").toLowerCase();
  return v && HEX64.test(v) ? v : undefined;
}
