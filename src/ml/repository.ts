// The model repository: bundled models (models/ in the package) and the user's (<datadir>/models), laid out as
// <id>/<version>/{model.onnx, card.json}. Each model is loaded into an onnxruntime session and checked against its
// card (sha256, input and output names, dtypes, shapes). A bad model is listed with its reason and left out.

import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { checkCard, type ModelCard } from './card.js';

const require = createRequire(import.meta.url);
const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');
export type Session = import('onnxruntime-node').InferenceSession;
export const Tensor = ort.Tensor;

export interface LoadedModel {
  id: string;
  version: number;
  card: ModelCard;
  session: Session;
  path: string;
  /** Features per row (the card's input width). */
  width: number;
}

export interface BrokenModel {
  id: string;
  version: number | null;
  path: string;
  reason: string;
}

const MAX_MODEL_BYTES = 256 * 1024 * 1024;

export async function loadModels(dirs: string[]): Promise<{ models: LoadedModel[]; broken: BrokenModel[] }> {
  const models: LoadedModel[] = [];
  const broken: BrokenModel[] = [];
  for (const dir of dirs) {
    const ids = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const idEnt of ids) {
      if (!idEnt.isDirectory()) continue;
      const versions = await readdir(join(dir, idEnt.name), { withFileTypes: true }).catch(() => []);
      for (const vEnt of versions) {
        if (!vEnt.isDirectory()) continue;
        const path = join(dir, idEnt.name, vEnt.name);
        const version = /^\d+$/.test(vEnt.name) ? Number(vEnt.name) : null;
        try {
          if (version === null) throw new Error(`version folder '${vEnt.name}' is not a number`);
          const m = await loadOne(path, idEnt.name, version);
          const dup = models.findIndex((x) => x.id === m.id && x.version === m.version);
          // A user's model of the same id and version replaces the bundled one (user dirs come later).
          if (dup >= 0) {
            await models[dup]!.session.release();
            models.splice(dup, 1);
          }
          models.push(m);
        } catch (err) {
          broken.push({ id: idEnt.name, version, path, reason: (err as Error).message });
        }
      }
    }
  }
  return { models, broken };
}

/** One version folder, loaded into onnxruntime and checked against its card (the retrainer checks its own output so). */
export async function loadOne(path: string, id: string, version: number): Promise<LoadedModel> {
  let card: ModelCard;
  try {
    card = JSON.parse(await readFile(join(path, 'card.json'), 'utf8')) as ModelCard;
  } catch (err) {
    throw new Error(`card.json: ${(err as NodeJS.ErrnoException).code ?? 'not valid JSON'}`);
  }
  if (!checkCard.Check(card)) {
    const e = [...checkCard.Errors(card)][0]!;
    throw new Error(`card.json: ${e.path || '/'} ${e.message}`);
  }
  if (card.id !== id || card.version !== version) throw new Error(`card.json says ${card.id} v${card.version}, but the folder is ${id}/${version}`);
  let bytes: Buffer;
  try {
    bytes = await readFile(join(path, 'model.onnx'));
  } catch (err) {
    throw new Error(`model.onnx: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
  if (bytes.length > MAX_MODEL_BYTES) throw new Error(`model.onnx is larger than ${MAX_MODEL_BYTES} bytes`);
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== card.sha256) throw new Error(`model.onnx sha256 ${sha.slice(0, 12)}… does not match the card's ${card.sha256.slice(0, 12)}…`);
  let session: Session;
  try {
    session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1 });
  } catch (err) {
    throw new Error(`onnxruntime cannot load model.onnx: ${(err as Error).message.split('\n')[0]}`);
  }
  const fail = async (msg: string): Promise<never> => {
    await session.release();
    throw new Error(msg);
  };
  const [inSpec] = card.inputs;
  const [outSpec] = card.outputs;
  const inMeta = session.inputMetadata[0];
  const outMeta = session.outputMetadata[0];
  if (session.inputNames.length !== 1 || session.inputNames[0] !== inSpec!.name)
    await fail(`the model's input is ${JSON.stringify(session.inputNames)}, the card says ${inSpec!.name}`);
  if (session.outputNames.length !== 1 || session.outputNames[0] !== outSpec!.name)
    await fail(`the model's output is ${JSON.stringify(session.outputNames)}, the card says ${outSpec!.name}`);
  for (const [meta, spec, what] of [
    [inMeta, inSpec!, 'input'],
    [outMeta, outSpec!, 'output'],
  ] as const) {
    if (!meta?.isTensor) await fail(`${what} is not a tensor`);
    const m = meta as { type: string; shape: ReadonlyArray<number | string> };
    if (m.type !== spec.dtype) await fail(`${what} dtype is ${m.type}, the card says ${spec.dtype}`);
    const same =
      m.shape.length === spec.shape.length &&
      m.shape.every((d, i) => (typeof d === 'number' && typeof spec.shape[i] === 'number' ? d === spec.shape[i] : typeof d === typeof spec.shape[i]));
    if (!same) await fail(`${what} shape is ${JSON.stringify(m.shape)}, the card says ${JSON.stringify(spec.shape)}`);
  }
  const width = inSpec!.shape[1];
  if (typeof width !== 'number' || typeof inSpec!.shape[0] !== 'string') await fail('the input must be [batch, features] with a dynamic batch dimension');
  if (inSpec!.features && inSpec!.features.length !== width) await fail(`the card names ${inSpec!.features.length} features for an input of width ${width}`);
  return { id, version, card, session, path, width: width as number };
}
