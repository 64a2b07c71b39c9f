// GGUF checkpoints (llama.cpp). The header (metadata + tensor infos) is parsed by @huggingface/gguf,
// fed from our FileSource through a small in-process fetch that answers its Range requests, so the
// same code reads a URL, a File or a local file and only the header bytes are read up front.
// Tensors come out under HF names and HF shapes (GGUF lists dims innermost-first: ne0 = K, so a
// linear layer's [K, N] is reversed to [N, K]), with llama q/k rows un-permuted (gguf-map.ts).
// Q8_0 is dequantized to f32 (exact) for the INT4 quantizer, or kept raw on request for repackQ8_0 (an
// INT8 lm_head); Q4_0 stays raw for repackQ4_0.

import { GGMLQuantizationType, gguf } from "@huggingface/gguf";
import { type ModelConfig, parseConfig } from "../config.ts";
import { ModelFileError, WispError } from "../errors.ts";
import {
  checkGgufArch,
  ggufToHfConfig,
  hfTensorName,
  llama3FromFreqFactors,
  unpermuteRows,
} from "./gguf-map.ts";
import type { FileSource } from "./source.ts";
import {
  dequantizeQ8_0,
  type TensorData,
  type TensorDtype,
  type TensorInfo,
  type TensorSet,
  tensorBytes,
  toF32,
} from "./tensor.ts";

/** GGML type ids Wisp reads (ggml.h's enum ggml_type). */
export const GGUF_DTYPES: Partial<Record<number, TensorDtype>> = {
  [GGMLQuantizationType.F32]: "F32",
  [GGMLQuantizationType.F16]: "F16",
  [GGMLQuantizationType.Q4_0]: "Q4_0",
  [GGMLQuantizationType.Q8_0]: "Q8_0",
  [GGMLQuantizationType.BF16]: "BF16",
};

export const GGUF_VERSIONS = [2, 3];

export interface GgufHeader {
  metadata: Record<string, unknown>;
  /** raw GGUF tensor infos: GGUF names, shapes innermost-first, offsets relative to the data section */
  tensors: Array<{ name: string; shape: number[]; type: number; offset: number }>;
  /** absolute offset of the tensor data section */
  dataOffset: number;
  size: number;
}

const corrupt = (file: string, message: string) =>
  new ModelFileError(`"${file}": ${message}`, { kind: "corrupt", file });

/** An in-process fetch over one FileSource file: what @huggingface/gguf's range reader asks for. */
function sourceFetch(source: FileSource, file: string, size: number): typeof fetch {
  return (async (_input: unknown, init?: RequestInit) => {
    const m = /bytes=(\d+)-(\d+)/.exec(new Headers(init?.headers).get("range") ?? "");
    const start = Math.min(m ? Number(m[1]) : 0, size);
    const end = Math.min(m ? Number(m[2]) + 1 : size, size);
    // Past the end we answer with no bytes (the reader zero-fills); a header that really runs past
    // the end is caught after parsing, because its tensor section then lies beyond the file.
    const bytes = end > start ? await source.read(file, start, end) : new Uint8Array(0);
    return new Response(new Blob([bytes as Uint8Array<ArrayBuffer>]), {
      status: 206,
      headers: { "content-range": `bytes ${start}-${Math.max(start, end - 1)}/${size}` },
    });
  }) as typeof fetch;
}

/** Reads and checks a GGUF header: magic, version, then the library's parse. */
export async function readGgufHeader(source: FileSource, file: string): Promise<GgufHeader> {
  const size = await source.size(file);
  if (size < 8) {
    throw new ModelFileError(`"${file}" is truncated: ${size} bytes, too short for a GGUF header`, {
      kind: "truncated",
      file,
      size,
    });
  }
  const head = await source.read(file, 0, 8);
  const magic = String.fromCharCode(...head.subarray(0, 4));
  if (magic !== "GGUF") {
    const hex = [...head.subarray(0, 4)].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    throw new ModelFileError(`"${file}" is not a GGUF file: bad magic ${hex} (expected "GGUF")`, {
      kind: "corrupt",
      file,
    });
  }
  const version = new DataView(head.buffer, head.byteOffset, 8).getUint32(4, true);
  if (!GGUF_VERSIONS.includes(version)) {
    throw new ModelFileError(
      `"${file}": unsupported GGUF version ${version} (supported: ${GGUF_VERSIONS.join(", ")}; big-endian files are not supported)`,
      { kind: "corrupt", file, version },
    );
  }
  let parsed: Awaited<ReturnType<typeof gguf>>;
  try {
    parsed = await gguf(`https://wisp.invalid/${encodeURIComponent(file)}`, {
      fetch: sourceFetch(source, file, size),
    });
  } catch (cause) {
    if (cause instanceof WispError) throw cause;
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new ModelFileError(
      `"${file}": corrupt GGUF header (${reason})`,
      { kind: "corrupt", file },
      { cause },
    );
  }
  const dataOffset = Number(parsed.tensorDataOffset);
  if (parsed.tensorInfoByteRange[1] > size || dataOffset > size) {
    throw new ModelFileError(
      `"${file}" is truncated: its header runs past the end of the file (${size} bytes)`,
      {
        kind: "truncated",
        file,
        size,
      },
    );
  }
  const tensors = parsed.tensorInfos.map((t) => {
    if (!parsed.littleEndian) throw corrupt(file, "big-endian GGUF is not supported");
    return { name: t.name, shape: t.shape.map(Number), type: t.dtype, offset: Number(t.offset) };
  });
  return { metadata: parsed.metadata as Record<string, unknown>, tensors, dataOffset, size };
}

export interface GgufModel {
  file: string;
  config: ModelConfig;
  metadata: Record<string, unknown>;
  tensors: TensorSet;
}

/** The GGUF file of a source: `file` if given, else the only *.gguf listed. */
async function pickFile(source: FileSource, file?: string): Promise<string> {
  if (file !== undefined) return file;
  const ggufs = (await source.list()).filter((n) => n.endsWith(".gguf"));
  if (ggufs.length === 1) return ggufs[0]!;
  throw new ModelFileError(
    ggufs.length === 0
      ? "no .gguf file in the model source"
      : `several .gguf files (${ggufs.join(", ")}): name the one to load (split GGUF is not supported)`,
    { kind: "missing_file", file: ggufs.join(", ") },
  );
}

/**
 * Opens a GGUF checkpoint: validates the header and every tensor (type, byte range inside the file),
 * builds the ModelConfig from metadata, and returns the tensors under HF names.
 */
export async function openGguf(source: FileSource, file?: string): Promise<GgufModel> {
  const name = await pickFile(source, file);
  const header = await readGgufHeader(source, name);
  // Architecture first: for an unsupported model that is the error that matters, not its dtypes.
  const arch = checkGgufArch(header.metadata);
  const permuted = arch === "llama";
  const infos = new Map<string, TensorInfo>();
  let ropeFreqs: TensorInfo | undefined;
  for (const t of header.tensors) {
    const dtype = GGUF_DTYPES[t.type];
    const at = { file: name, tensor: t.name };
    if (dtype === undefined) {
      const typeName = GGMLQuantizationType[t.type] ?? `type ${t.type}`;
      throw new ModelFileError(
        `"${name}": tensor "${t.name}" has unsupported GGUF type ${typeName} (supported: F32, F16, BF16, Q8_0, Q4_0)`,
        { kind: "bad_dtype", ...at, dtype: typeName },
      );
    }
    const shape = [...t.shape].reverse();
    const k = t.shape[0] ?? 1;
    if ((dtype === "Q4_0" || dtype === "Q8_0") && k % 32 !== 0) {
      throw new ModelFileError(`"${name}": ${dtype} tensor "${t.name}" has K = ${k}, not a multiple of 32`, {
        kind: "corrupt",
        ...at,
      });
    }
    const byteOffset = header.dataOffset + t.offset;
    const byteLength = tensorBytes(dtype, shape);
    if (byteOffset + byteLength > header.size) {
      throw new ModelFileError(
        `"${name}" is truncated: tensor "${t.name}" ends at byte ${byteOffset + byteLength} but the file has ${header.size} bytes`,
        { kind: "truncated", ...at, size: header.size, end: byteOffset + byteLength },
      );
    }
    const info: TensorInfo = { name: hfTensorName(t.name), dtype, shape, file: name, byteOffset, byteLength };
    if (t.name === "rope_freqs.weight") ropeFreqs = info;
    else infos.set(info.name, info);
  }

  const readRaw = (info: TensorInfo) => source.read(name, info.byteOffset, info.byteOffset + info.byteLength);
  let ropeScaling: Record<string, unknown> | null = null;
  if (ropeFreqs) {
    if (ropeFreqs.dtype !== "F32") throw corrupt(name, "rope_freqs.weight is not F32");
    const heads = Number(header.metadata[`${arch}.attention.head_count`]);
    const headDim =
      Number(header.metadata[`${arch}.attention.key_length`] ?? 0) ||
      Number(header.metadata[`${arch}.embedding_length`]) / heads;
    const theta = Number(header.metadata[`${arch}.rope.freq_base`] ?? 10000);
    ropeScaling = llama3FromFreqFactors(toF32("F32", await readRaw(ropeFreqs)), headDim, theta);
  }
  const config = parseConfig(
    ggufToHfConfig(header.metadata, infos.has("lm_head.weight"), ropeScaling),
    undefined,
    name,
  );

  const readTensor = async (tensor: string, options?: { keepBlocks?: boolean }): Promise<TensorData> => {
    const info = infos.get(tensor);
    if (!info)
      throw new ModelFileError(`tensor "${tensor}" is not in "${name}"`, {
        kind: "missing_tensor",
        tensor,
        file: name,
      });
    let data = await readRaw(info);
    let dtype = info.dtype;
    const rows = info.shape.length === 2 ? info.shape[0]! : 1;
    if (dtype === "Q8_0" && !options?.keepBlocks) {
      const k = info.shape[info.shape.length - 1]!;
      const f = dequantizeQ8_0(data, info.byteLength / ((k / 32) * 34), k);
      data = new Uint8Array(f.buffer);
      dtype = "F32";
    }
    if (permuted && /\.self_attn\.[qk]_proj\.weight$/.test(tensor)) {
      const nHead = tensor.includes(".q_proj.") ? config.numHeads : config.numKvHeads;
      data = unpermuteRows(data, rows, nHead);
    }
    return { dtype, shape: [...info.shape], data };
  };

  return {
    file: name,
    config,
    metadata: header.metadata,
    tensors: { format: "gguf", tensors: infos, readTensor },
  };
}
