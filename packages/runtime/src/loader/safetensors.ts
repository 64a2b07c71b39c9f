// safetensors: [u64 LE header length n][n bytes of UTF-8 JSON][data]. The JSON maps each tensor name
// to {dtype, shape, data_offsets: [begin, end)} relative to the start of the data. Only the header is
// read up front; each tensor is read by range when asked for, so a multi-GB checkpoint is validated
// (every offset, size and dtype) after downloading a few KB. Sharded checkpoints list their shards
// in model.safetensors.index.json ({"weight_map": {tensor: file}}).

import { type ErrorDetails, ModelFileError } from "../errors.ts";
import { type FileSource, readJson } from "./source.ts";
import {
  DTYPE_BYTES,
  type FloatDtype,
  numel,
  type TensorData,
  type TensorInfo,
  type TensorSet,
} from "./tensor.ts";

/** safetensors' own limit (MAX_HEADER_SIZE in the reference implementation): 100 MB. */
export const MAX_HEADER_BYTES = 100_000_000;

/** Dtypes safetensors defines that Wisp does not read (for a clearer message than "unknown"). */
const OTHER_DTYPES = new Set([
  "F64",
  "I64",
  "I32",
  "I16",
  "I8",
  "U64",
  "U32",
  "U16",
  "U8",
  "BOOL",
  "F8_E4M3",
  "F8_E5M2",
]);

const fail = (message: string, details: ErrorDetails): ModelFileError => new ModelFileError(message, details);

/** Parses and validates one file's header → its tensors (absolute byte offsets in `file`). */
export async function readSafetensorsHeader(source: FileSource, file: string): Promise<TensorInfo[]> {
  const size = await source.size(file);
  if (size < 8) {
    throw fail(`"${file}" is truncated: ${size} bytes, too short for a safetensors header`, {
      kind: "truncated",
      file,
      size,
    });
  }
  const lenBytes = await source.read(file, 0, 8);
  const headerLen = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLen > BigInt(size - 8)) {
    throw fail(
      `"${file}": header length ${headerLen} is larger than the file (${size} bytes): truncated or not safetensors`,
      {
        kind: "truncated",
        file,
        size,
        headerLength: headerLen.toString(),
      },
    );
  }
  const n = Number(headerLen);
  if (n < 2 || n > MAX_HEADER_BYTES) {
    throw fail(`"${file}": implausible safetensors header length ${n}`, {
      kind: "corrupt",
      file,
      headerLength: n,
    });
  }
  const headerBytes = await source.read(file, 8, 8 + n);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(headerBytes));
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new ModelFileError(
      `"${file}": safetensors header is not valid JSON (${reason})`,
      { kind: "corrupt", file },
      { cause },
    );
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    throw fail(`"${file}": safetensors header is not a JSON object`, { kind: "corrupt", file });
  }
  const dataStart = 8 + n;
  const infos: TensorInfo[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") continue;
    infos.push(validateEntry(file, name, raw, dataStart, size));
  }
  return infos;
}

function validateEntry(
  file: string,
  name: string,
  raw: unknown,
  dataStart: number,
  size: number,
): TensorInfo {
  const at = { file, tensor: name };
  const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
  if (typeof e !== "object" || e === null) {
    throw fail(`"${file}": entry for tensor "${name}" is not an object`, { kind: "corrupt", ...at });
  }
  if (typeof e.dtype !== "string")
    throw fail(`"${file}": tensor "${name}" has no dtype`, { kind: "corrupt", ...at });
  if (!(e.dtype in DTYPE_BYTES)) {
    const what = OTHER_DTYPES.has(e.dtype) ? "unsupported" : "unknown";
    throw fail(`"${file}": tensor "${name}" has ${what} dtype ${e.dtype} (supported: F32, F16, BF16)`, {
      kind: "bad_dtype",
      ...at,
      dtype: e.dtype,
    });
  }
  const dtype = e.dtype as FloatDtype;
  const shape = e.shape;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw fail(`"${file}": tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`, {
      kind: "corrupt",
      ...at,
    });
  }
  const off = e.data_offsets;
  if (
    !Array.isArray(off) ||
    off.length !== 2 ||
    !off.every((x) => Number.isSafeInteger(x) && x >= 0) ||
    (off[1] as number) < (off[0] as number)
  ) {
    throw fail(`"${file}": tensor "${name}" has invalid data_offsets ${JSON.stringify(off)}`, {
      kind: "corrupt",
      ...at,
    });
  }
  const [begin, end] = off as [number, number];
  const expected = numel(shape as number[]) * DTYPE_BYTES[dtype];
  if (end - begin !== expected) {
    throw fail(
      `"${file}": tensor "${name}" ${dtype}[${shape.join(", ")}] needs ${expected} bytes but data_offsets [${begin}, ${end}) hold ${end - begin}`,
      { kind: "shape_mismatch", ...at, expectedBytes: expected, actualBytes: end - begin },
    );
  }
  if (dataStart + end > size) {
    throw fail(
      `"${file}" is truncated: tensor "${name}" ends at byte ${dataStart + end} but the file has ${size} bytes`,
      { kind: "truncated", ...at, size, end: dataStart + end },
    );
  }
  return { name, dtype, shape: shape as number[], file, byteOffset: dataStart + begin, byteLength: expected };
}

export const INDEX_FILE = "model.safetensors.index.json";

/**
 * Opens a safetensors checkpoint: model.safetensors.index.json (sharded) when listed, else
 * model.safetensors, else the only *.safetensors file. Every shard's header is read and validated;
 * every tensor of the weight_map must be in the shard it names.
 */
export async function openSafetensors(source: FileSource): Promise<TensorSet> {
  const names = await source.list();
  const tensors = new Map<string, TensorInfo>();
  if (names.includes(INDEX_FILE)) {
    const index = (await readJson(source, INDEX_FILE)) as { weight_map?: unknown } | null;
    const map = index?.weight_map;
    if (typeof map !== "object" || map === null || Array.isArray(map)) {
      throw fail(`"${INDEX_FILE}" has no weight_map object`, { kind: "corrupt", file: INDEX_FILE });
    }
    const weightMap = map as Record<string, unknown>;
    const shards = [...new Set(Object.values(weightMap))];
    const bad = shards.find((s) => typeof s !== "string" || s === "");
    if (bad !== undefined) {
      throw fail(`"${INDEX_FILE}": weight_map names an invalid shard ${JSON.stringify(bad)}`, {
        kind: "corrupt",
        file: INDEX_FILE,
      });
    }
    const headers = await Promise.all((shards as string[]).map((s) => readSafetensorsHeader(source, s)));
    const byShard = new Map(
      (shards as string[]).map((s, i) => [s, new Map(headers[i]!.map((t) => [t.name, t]))]),
    );
    for (const [name, shard] of Object.entries(weightMap) as Array<[string, string]>) {
      const info = byShard.get(shard)!.get(name);
      if (!info) {
        throw fail(
          `tensor "${name}" is listed in ${INDEX_FILE} for "${shard}" but that shard does not hold it`,
          {
            kind: "missing_tensor",
            file: shard,
            tensor: name,
          },
        );
      }
      tensors.set(name, info);
    }
  } else {
    const files = names.filter((n) => n.endsWith(".safetensors"));
    const file = files.includes("model.safetensors")
      ? "model.safetensors"
      : files.length === 1
        ? files[0]
        : undefined;
    if (file === undefined) {
      throw fail(
        files.length === 0
          ? "no model.safetensors or model.safetensors.index.json in the model source"
          : `several .safetensors files (${files.join(", ")}) but no ${INDEX_FILE}`,
        { kind: "missing_file", file: "model.safetensors" },
      );
    }
    for (const t of await readSafetensorsHeader(source, file)) tensors.set(t.name, t);
  }
  return {
    format: "safetensors",
    tensors,
    readTensor: async (name: string): Promise<TensorData> => {
      const info = tensors.get(name);
      if (!info)
        throw fail(`tensor "${name}" is not in the checkpoint`, { kind: "missing_tensor", tensor: name });
      const data = await source.read(info.file, info.byteOffset, info.byteOffset + info.byteLength);
      return { dtype: info.dtype, shape: [...info.shape], data };
    },
  };
}
