// "Show code": the request the playground is about to send, as curl, Python (the official openai
// package) and grpcurl (quire.v1.Inference/Generate). The key is never written into the code: it
// reads $QUIRE_API_KEY when the server wants one.

/** Fields the official OpenAI clients have parameters for; the rest (vLLM's) go in extra_body. */
const OPENAI_FIELDS = new Set(['model', 'messages', 'prompt', 'max_tokens', 'temperature', 'top_p', 'seed', 'stop',
  'presence_penalty', 'frequency_penalty', 'logprobs', 'top_logprobs', 'stream', 'stream_options']);

/** A string as a POSIX shell single-quoted word. */
export function shellQuote(text) {
  return `'${String(text).replace(/'/g, `'\\''`)}'`;
}

/** A JSON-like value as a Python literal. */
export function python(value, indent = '') {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  const inner = `${indent}    `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    if (value.every(v => typeof v !== 'object' || v === null)) return `[${value.map(v => python(v)).join(', ')}]`;
    return `[\n${value.map(v => inner + python(v, inner)).join(',\n')},\n${indent}]`;
  }
  const entries = Object.entries(value);
  if (entries.length === 0) return '{}';
  const flat = entries.every(([, v]) => typeof v !== 'object' || v === null);
  if (flat && entries.length <= 3) return `{${entries.map(([k, v]) => `${JSON.stringify(k)}: ${python(v)}`).join(', ')}}`;
  return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${python(v, inner)}`).join(',\n')},\n${indent}}`;
}

/**
 * @param request {mode, body, baseUrl, grpcAddress, keyRequired}: body is the exact JSON the
 *   playground posts to /v1/chat/completions or /v1/completions
 */
export function curl(request) {
  const path = request.mode === 'chat' ? '/v1/chat/completions' : '/v1/completions';
  const lines = [`curl -N ${request.baseUrl}${path}`, `  -H 'Content-Type: application/json'`];
  if (request.keyRequired) lines.push(`  -H "Authorization: Bearer $QUIRE_API_KEY"`);
  lines.push(`  -d ${shellQuote(JSON.stringify(request.body, null, 2))}`);
  return lines.join(' \\\n');
}

export function pythonCode(request) {
  const body = request.body;
  const args = [];
  const extra = {};
  for (const [key, value] of Object.entries(body)) {
    if (key === 'stream_options') continue;
    if (OPENAI_FIELDS.has(key)) args.push([key, value]);
    else extra[key] = value;
  }
  if (body.stream_options) args.push(['stream_options', body.stream_options]);
  if (Object.keys(extra).length) args.push(['extra_body', extra]);
  const call = request.mode === 'chat' ? 'client.chat.completions.create' : 'client.completions.create';
  const printed = request.mode === 'chat' ? 'chunk.choices[0].delta.content or ""' : 'chunk.choices[0].text';
  return [
    request.keyRequired ? 'import os\n' : null,
    'from openai import OpenAI',
    '',
    `client = OpenAI(base_url=${JSON.stringify(request.baseUrl + '/v1')}, api_key=${
      request.keyRequired ? 'os.environ["QUIRE_API_KEY"]' : '"none"'})`,
    '',
    `stream = ${call}(`,
    ...args.map(([k, v]) => `    ${k}=${python(v, '    ')},`),
    ')',
    'for chunk in stream:',
    '    if chunk.choices:',
    `        print(${printed}, end="", flush=True)`,
    'print()',
  ].filter(l => l !== null).join('\n');
}

/** The gRPC request of the same generation; chat has no gRPC form, so it says so. */
export function grpcurl(request) {
  const body = request.body;
  const sampling = {};
  const copy = (from, to = from) => {
    if (body[from] !== undefined) sampling[to] = body[from];
  };
  copy('max_tokens');
  copy('temperature');
  copy('top_p');
  if (body.top_k !== undefined && body.top_k > 0) sampling.top_k = body.top_k;
  copy('min_p');
  copy('seed');
  if (body.stop !== undefined) sampling.stop = Array.isArray(body.stop) ? body.stop : [body.stop];
  copy('presence_penalty');
  copy('frequency_penalty');
  copy('repetition_penalty');
  copy('ignore_eos');
  if (request.mode === 'completion' && body.logprobs !== undefined && body.logprobs > 0) sampling.logprobs = body.logprobs;
  const message = {model: body.model};
  const lines = [];
  if (request.mode === 'chat') {
    lines.push('# The gRPC API takes a prompt, not chat messages: the server renders messages with the',
      '# model\'s chat template only on /v1/chat/completions. This sends the last user message as a',
      '# plain prompt; use the completion mode to get an exact equivalent.');
    const users = (body.messages || []).filter(m => m.role === 'user');
    message.prompt = users.length ? users[users.length - 1].content : '';
  } else {
    message.prompt = body.prompt;
  }
  if (Object.keys(sampling).length) message.sampling = sampling;
  const command = ['grpcurl -plaintext'];
  if (request.keyRequired) command.push(`  -H "authorization: Bearer $QUIRE_API_KEY"`);
  command.push(`  -d ${shellQuote(JSON.stringify(message, null, 2))}`);
  command.push(`  ${request.grpcAddress} quire.v1.Inference/Generate`);
  lines.push(command.join(' \\\n'));
  return lines.join('\n');
}
