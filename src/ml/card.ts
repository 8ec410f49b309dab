// The model card every model comes with (card.json beside model.onnx): what the model takes and gives, what it was
// trained on, how well it did, and the sha256 of the .onnx file. anyad checks the model against its card at load.

import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';

const TensorSpec = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 100 }),
  dtype: Type.Literal('float32'),
  shape: Type.Array(Type.Union([Type.Integer({ minimum: 1 }), Type.String({ maxLength: 20 })]), { minItems: 1, maxItems: 4 }),
  features: Type.Optional(Type.Array(Type.String({ maxLength: 100 }), { maxItems: 4096 })),
  meaning: Type.Optional(Type.String({ maxLength: 500 })),
  units: Type.Optional(Type.String({ maxLength: 100 })),
  /** Per feature (inputs) or for the value (outputs): the [min, max] seen in training. */
  ranges: Type.Optional(Type.Array(Type.Tuple([Type.Number(), Type.Number()]), { maxItems: 4096 })),
  /** What anyad does with a value outside `ranges`: clamp it to the nearest bound (the model never extrapolates). */
  out_of_range: Type.Optional(Type.Literal('clamp')),
});

export const ModelCardSchema = Type.Object({
  id: Type.String({ pattern: '^[a-z][a-z0-9-]{0,63}$' }),
  version: Type.Integer({ minimum: 1, maximum: 1_000_000 }),
  task: Type.Union([Type.Literal('regression'), Type.Literal('classification')]),
  description: Type.String({ maxLength: 1000 }),
  extractor: Type.Union([Type.Literal('fee'), Type.Literal('risk'), Type.Literal('none')]),
  inputs: Type.Array(TensorSpec, { minItems: 1, maxItems: 1 }),
  outputs: Type.Array(TensorSpec, { minItems: 1, maxItems: 1 }),
  postprocess: Type.Union([Type.Literal('none'), Type.Literal('expm1')]),
  training_data: Type.Object({ source: Type.String({ maxLength: 100 }), statement: Type.String({ maxLength: 4000 }) }, { additionalProperties: true }),
  metrics: Type.Record(Type.String(), Type.Number()),
  created: Type.String({ maxLength: 40 }),
  sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
});
export type ModelCard = Static<typeof ModelCardSchema>;

export const checkCard = TypeCompiler.Compile(ModelCardSchema);
