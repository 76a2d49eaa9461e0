// Files over wasi:filesystem for componentize-js plugins (StarlingMonkey has no `fs`): a
// plugin sees only its preopened directories (a stage: its inputs under /inputs and its
// output directory; others: the `files` the operator granted), named by absolute guest path.
import { getDirectories } from "wasi:filesystem/preopens@0.2.12";
import { fatal } from "./baton.js";

const CHUNK = 65536;

/** The preopen holding `path` and the path relative to it. */
function locate(path) {
  let best;
  for (const [descriptor, guest] of getDirectories()) {
    const root = guest.replace(/\/+$/, "");
    if ((path === root || path.startsWith(`${root}/`)) && (!best || root.length > best[1].length)) {
      best = [descriptor, root];
    }
  }
  if (!best) throw fatal(`${path} is not under a directory this plugin can see`);
  return [best[0], path.slice(best[1].length).replace(/^\/+/, "") || "."];
}

const reason = (e) => e?.payload ?? e?.message ?? String(e);

/** The file's bytes (a Uint8Array); throws `fatal` naming the path and the error code. */
export function readBytes(path) {
  const [dir, relative] = locate(path);
  let file;
  try {
    file = dir.openAt({ symlinkFollow: false }, relative, {}, { read: true });
  } catch (e) {
    throw fatal(`cannot open ${path}: ${reason(e)}`);
  }
  const chunks = [];
  let offset = 0n;
  let length = 0;
  for (;;) {
    let data, end;
    try {
      [data, end] = file.read(BigInt(CHUNK), offset);
    } catch (e) {
      throw fatal(`cannot read ${path}: ${reason(e)}`);
    }
    chunks.push(data);
    length += data.length;
    offset += BigInt(data.length);
    if (end || data.length === 0) break;
  }
  const bytes = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return bytes;
}

/** The file as UTF-8 text. */
export const readText = (path) => new TextDecoder().decode(readBytes(path));

/** Creates or replaces the file with `bytes` (a Uint8Array). */
export function writeBytes(path, bytes) {
  const [dir, relative] = locate(path);
  let file;
  try {
    file = dir.openAt({}, relative, { create: true, truncate: true }, { write: true });
  } catch (e) {
    throw fatal(`cannot create ${path}: ${reason(e)}`);
  }
  let offset = 0;
  while (offset < bytes.length) {
    try {
      offset += Number(file.write(bytes.subarray(offset, offset + CHUNK), BigInt(offset)));
    } catch (e) {
      throw fatal(`cannot write ${path}: ${reason(e)}`);
    }
  }
}

/** Creates or replaces the file with `text` as UTF-8. */
export const writeText = (path, text) => writeBytes(path, new TextEncoder().encode(text));
