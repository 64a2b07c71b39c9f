// A small protobuf writer for the part of onnx.proto the synthetic decoder needs (ModelProto,
// GraphProto, NodeProto, AttributeProto, TensorProto with external data, ValueInfoProto). Field
// numbers are onnx.proto's. No dependencies, so the generator runs on the GPU machine as is.

export const DataType = { FLOAT: 1, UINT8: 2, INT32: 6, INT64: 7, FLOAT16: 10 } as const;

class Writer {
  private parts: Uint8Array[] = [];
  private size = 0;

  bytes(b: Uint8Array): this {
    this.parts.push(b);
    this.size += b.length;
    return this;
  }
  varint(value: number | bigint): this {
    let v = BigInt.asUintN(64, BigInt(value));
    const out: number[] = [];
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v) byte |= 0x80;
      out.push(byte);
    } while (v);
    return this.bytes(Uint8Array.from(out));
  }
  key(field: number, wire: number): this {
    return this.varint((field << 3) | wire);
  }
  int(field: number, v: number | bigint): this {
    return this.key(field, 0).varint(v);
  }
  float(field: number, v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    return this.key(field, 5).bytes(b);
  }
  raw(field: number, b: Uint8Array): this {
    return this.key(field, 2).varint(b.length).bytes(b);
  }
  str(field: number, s: string): this {
    return this.raw(field, new TextEncoder().encode(s));
  }
  msg(field: number, w: Writer): this {
    return this.raw(field, w.finish());
  }
  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}
export type Proto = Writer;

export interface ExternalRef {
  location: string;
  offset: number;
  length: number;
}

/** TensorProto: inline raw data, or a reference into an external data file. */
export function tensor(
  name: string,
  dataType: number,
  dims: readonly number[],
  data: Uint8Array | ExternalRef,
): Proto {
  const w = new Writer();
  for (const d of dims) w.int(1, d);
  w.int(2, dataType).str(8, name);
  if (data instanceof Uint8Array) return w.raw(9, data);
  for (const [k, v] of Object.entries(data)) w.msg(13, new Writer().str(1, k).str(2, String(v)));
  return w.int(14, 1); // data_location = EXTERNAL
}

/** ValueInfoProto of a tensor; string dims are symbolic. */
export function valueInfo(name: string, elemType: number, dims: readonly (number | string)[]): Proto {
  const shape = new Writer();
  for (const d of dims) shape.msg(1, typeof d === "string" ? new Writer().str(2, d) : new Writer().int(1, d));
  const tensorType = new Writer().int(1, elemType).msg(2, shape);
  return new Writer().str(1, name).msg(2, new Writer().msg(1, tensorType));
}

export type Attr = Proto;
export const attrInt = (name: string, v: number): Attr => new Writer().str(1, name).int(3, v).int(20, 2);
export const attrFloat = (name: string, v: number): Attr => new Writer().str(1, name).float(2, v).int(20, 1);
export const attrInts = (name: string, vs: readonly number[]): Attr => {
  const w = new Writer().str(1, name);
  for (const v of vs) w.int(8, v);
  return w.int(20, 7);
};

export function node(
  opType: string,
  inputs: readonly string[],
  outputs: readonly string[],
  name: string,
  attrs: readonly Attr[] = [],
  domain = "",
): Proto {
  const w = new Writer();
  for (const i of inputs) w.str(1, i);
  for (const o of outputs) w.str(2, o);
  w.str(3, name).str(4, opType);
  for (const a of attrs) w.msg(5, a);
  if (domain) w.str(7, domain);
  return w;
}

export interface GraphSpec {
  name: string;
  nodes: readonly Proto[];
  initializers: readonly Proto[];
  inputs: readonly Proto[];
  outputs: readonly Proto[];
  opsets: readonly (readonly [string, number])[];
}

export function modelProto(g: GraphSpec): Uint8Array {
  const graph = new Writer();
  for (const n of g.nodes) graph.msg(1, n);
  graph.str(2, g.name);
  for (const t of g.initializers) graph.msg(5, t);
  for (const i of g.inputs) graph.msg(11, i);
  for (const o of g.outputs) graph.msg(12, o);
  const m = new Writer().int(1, 8).str(2, "wisp-peer-bench").msg(7, graph);
  for (const [domain, version] of g.opsets) {
    const o = new Writer();
    if (domain) o.str(1, domain);
    m.msg(8, o.int(2, version));
  }
  return m.finish();
}
