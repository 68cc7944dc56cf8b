/** The "Try it" form: fields generated from a release's input schema, and the request body. */
import { Schema } from './model';

export interface FormField {
  name: string;
  label: string;
  dtype: string;
  numeric: boolean;
}

const NUMERIC = /^(float|int|uint|double|bool|number|integer)/i;

/** The "Try it" form: one field per input column; tensors get one JSON field. */
export function formFields(schema: Schema | null): FormField[] {
  if (!schema) {
    return [{ name: 'inputs', label: 'inputs (JSON rows)', dtype: 'json', numeric: false }];
  }
  if (schema.columns && schema.columns.length > 0) {
    return schema.columns.map(c => ({
      name: c.name,
      label: c.name,
      dtype: c.dtype,
      numeric: NUMERIC.test(c.dtype)
    }));
  }
  const shape = schema.shape ?? [];
  const width = shape.length === 2 ? shape[1] : null;
  if (schema.kind === 'ndarray' && typeof width === 'number' && width > 0 && width <= 64) {
    const dtype = schema.dtype ?? 'float64';
    return Array.from({ length: width }, (_, i) => ({
      name: `x${i}`,
      label: `x[${i}]`,
      dtype,
      numeric: NUMERIC.test(dtype)
    }));
  }
  return [{ name: 'inputs', label: 'inputs (JSON rows)', dtype: 'json', numeric: false }];
}

export class FormError extends Error {}

function coerce(field: FormField, raw: string): unknown {
  const text = raw.trim();
  if (!field.numeric) {
    return text;
  }
  if (/^bool/i.test(field.dtype)) {
    return /^(true|1|yes)$/i.test(text);
  }
  const value = Number(text);
  if (text === '' || Number.isNaN(value)) {
    throw new FormError(`${field.label} needs a number (${field.dtype}), got "${raw}"`);
  }
  return value;
}

/** The {"inputs": [...]} body for one row typed into the form. */
export function buildInputs(
  schema: Schema | null,
  values: Record<string, string>
): { inputs: unknown[] } {
  const fields = formFields(schema);
  if (fields.length === 1 && fields[0].dtype === 'json') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(values['inputs'] ?? '');
    } catch {
      throw new FormError('inputs must be JSON, e.g. [[1.0, 2.0]] or [{"a": 1}]');
    }
    return { inputs: Array.isArray(parsed) ? parsed : [parsed] };
  }
  if (schema?.columns && schema.columns.length > 0) {
    const record: Record<string, unknown> = {};
    for (const f of fields) {
      record[f.name] = coerce(f, values[f.name] ?? '');
    }
    return { inputs: [record] };
  }
  return { inputs: [fields.map(f => coerce(f, values[f.name] ?? ''))] };
}
