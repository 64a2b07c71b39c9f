// "Open a local folder": the files of the picked folder that make a model. A picked folder may hold
// the model in a subfolder (stories260K/hf/…) next to other things; the shallowest folder that has a
// config.json is the model, else the one with a single .gguf file.

export interface PickedFile {
  file: File;
  /** Path inside the picked folder, "/"-separated, including the picked folder's own name. */
  path: string;
}

export interface ModelFiles {
  files: File[];
  /** A name for the model: its folder's name. */
  name: string;
}

function dirOf(path: string): string {
  const at = path.lastIndexOf("/");
  return at < 0 ? "" : path.slice(0, at);
}

export function modelFilesFrom(picked: PickedFile[]): ModelFiles | undefined {
  const byDir = new Map<string, File[]>();
  for (const p of picked) {
    const dir = dirOf(p.path);
    const list = byDir.get(dir) ?? [];
    list.push(p.file);
    byDir.set(dir, list);
  }
  const depth = (dir: string) => (dir ? dir.split("/").length : 0);
  const dirs = [...byDir.keys()].sort((a, b) => depth(a) - depth(b) || a.localeCompare(b));
  const hf = dirs.find((d) => byDir.get(d)!.some((f) => f.name === "config.json"));
  const gguf = dirs.find((d) => byDir.get(d)!.some((f) => f.name.toLowerCase().endsWith(".gguf")));
  const dir = hf ?? gguf;
  if (dir === undefined) return undefined;
  const name = dir.split("/").filter(Boolean).slice(-2).join("/") || "local folder";
  return { files: byDir.get(dir)!, name };
}

/** Files from an `<input type="file" webkitdirectory>`. */
export function fromFileList(list: FileList | File[]): PickedFile[] {
  return Array.from(list).map((file) => ({ file, path: file.webkitRelativePath || file.name }));
}

interface DirectoryHandle {
  name: string;
  values(): AsyncIterable<{ kind: "file" | "directory"; name: string } & Record<string, unknown>>;
}

/** Files from showDirectoryPicker's handle, two levels deep at most (a model folder is flat). */
export async function fromDirectoryHandle(root: DirectoryHandle, maxDepth = 2): Promise<PickedFile[]> {
  const out: PickedFile[] = [];
  const walk = async (dir: DirectoryHandle, prefix: string, depth: number) => {
    for await (const entry of dir.values()) {
      if (entry.kind === "file") {
        const file = await (entry as unknown as { getFile(): Promise<File> }).getFile();
        out.push({ file, path: `${prefix}/${entry.name}` });
      } else if (depth < maxDepth && !entry.name.startsWith(".")) {
        await walk(entry as unknown as DirectoryHandle, `${prefix}/${entry.name}`, depth + 1);
      }
    }
  };
  await walk(root, root.name, 0);
  return out;
}
