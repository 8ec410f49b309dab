// The model card every model comes with (card.json beside model.onnx): what the model takes and gives, what it was
// trained on, how well it did, and the sha256 of the .onnx file. anyad checks the model against its card at load.

import type { Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ModelCardSchema } from './declarations.js';
export type ModelCard = Static<typeof ModelCardSchema>;

export const checkCard = TypeCompiler.Compile(ModelCardSchema);
