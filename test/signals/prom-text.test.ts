// The Prometheus text parser on vLLM-format expositions (current and legacy names, several engines) and on
// the corners of the format: escapes, special values, timestamps, malformed lines.
import { describe, expect, test } from 'bun:test';
import { histogramOf, meanOf, parsePromText, parseValue, sumOf } from '../../src/signals/prom-text.ts';

// As vLLM 0.11 writes it with two data-parallel engines (labels sorted as prometheus_client prints them).
const CURRENT = `# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 3.0
vllm:num_requests_running{engine="1",model_name="m"} 4.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="m"} 1.0
vllm:num_requests_waiting{engine="1",model_name="m"} 0.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.25
vllm:kv_cache_usage_perc{engine="1",model_name="m"} 0.75
# HELP vllm:prefix_cache_queries_total Prefix cache queries, in terms of number of queried tokens.
# TYPE vllm:prefix_cache_queries_total counter
vllm:prefix_cache_queries_total{engine="0",model_name="m"} 128.0
vllm:prefix_cache_queries_total{engine="1",model_name="m"} 72.0
# HELP vllm:prefix_cache_queries_created Prefix cache queries, in terms of number of queried tokens.
# TYPE vllm:prefix_cache_queries_created gauge
vllm:prefix_cache_queries_created{engine="0",model_name="m"} 1.7e+09
vllm:prefix_cache_queries_created{engine="1",model_name="m"} 1.7e+09
# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.1",model_name="m"} 1.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.5",model_name="m"} 3.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="m"} 4.0
vllm:time_to_first_token_seconds_count{engine="0",model_name="m"} 4.0
vllm:time_to_first_token_seconds_sum{engine="0",model_name="m"} 2.5
vllm:time_to_first_token_seconds_bucket{engine="1",le="0.1",model_name="m"} 2.0
vllm:time_to_first_token_seconds_bucket{engine="1",le="0.5",model_name="m"} 2.0
vllm:time_to_first_token_seconds_bucket{engine="1",le="+Inf",model_name="m"} 2.0
vllm:time_to_first_token_seconds_count{engine="1",model_name="m"} 2.0
vllm:time_to_first_token_seconds_sum{engine="1",model_name="m"} 0.1
# HELP vllm:time_to_first_token_seconds_created Histogram of time to first token in seconds.
# TYPE vllm:time_to_first_token_seconds_created gauge
vllm:time_to_first_token_seconds_created{engine="0",model_name="m"} 1.7e+09
`;

// vLLM 0.8-era names, with only model_name and no engine label.
const LEGACY = `# HELP vllm:gpu_cache_usage_perc GPU KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{model_name="m"} 0.5
# TYPE vllm:gpu_prefix_cache_hits_total counter
vllm:gpu_prefix_cache_hits_total{model_name="m"} 10.0
# TYPE vllm:time_per_output_token_seconds histogram
vllm:time_per_output_token_seconds_bucket{le="0.01",model_name="m"} 5.0
vllm:time_per_output_token_seconds_bucket{le="+Inf",model_name="m"} 6.0
vllm:time_per_output_token_seconds_count{model_name="m"} 6.0
vllm:time_per_output_token_seconds_sum{model_name="m"} 0.09
`;

describe('parsePromText on vLLM expositions', () => {
  test('sums gauges and counters over engine labels and averages a ratio', () => {
    const e = parsePromText(CURRENT);
    expect(e.problems).toEqual([]);
    expect(sumOf(e, 'vllm:num_requests_running')).toBe(7);
    expect(sumOf(e, 'vllm:num_requests_waiting')).toBe(1);
    expect(sumOf(e, 'vllm:prefix_cache_queries_total')).toBe(200);
    expect(meanOf(e, 'vllm:kv_cache_usage_perc')).toBe(0.5);
    expect(sumOf(e, 'vllm:num_requests_running', (l) => l['engine'] === '1')).toBe(4);
    expect(sumOf(e, 'vllm:no_such_metric')).toBeUndefined();
  });

  test('groups samples into typed families, _created families apart', () => {
    const e = parsePromText(CURRENT);
    const ttft = e.families.get('vllm:time_to_first_token_seconds');
    expect(ttft?.type).toBe('histogram');
    expect(ttft?.help).toBe('Histogram of time to first token in seconds.');
    expect(ttft?.samples).toHaveLength(10);
    expect(e.families.get('vllm:prefix_cache_queries_total')?.type).toBe('counter');
    expect(e.families.get('vllm:prefix_cache_queries_created')?.type).toBe('gauge');
    expect(e.samples('vllm:prefix_cache_queries_created')[0]?.value).toBe(1.7e9);
  });

  test('merges histogram buckets across engines by bound', () => {
    const h = histogramOf(parsePromText(CURRENT), 'vllm:time_to_first_token_seconds');
    expect(h).toEqual({
      buckets: [
        { le: 0.1, count: 3 },
        { le: 0.5, count: 5 },
        { le: Infinity, count: 6 },
      ],
      count: 6,
      sum: 2.6,
    });
  });

  test('reads the legacy names and engine-less labels', () => {
    const e = parsePromText(LEGACY);
    expect(e.problems).toEqual([]);
    expect(meanOf(e, 'vllm:gpu_cache_usage_perc')).toBe(0.5);
    expect(sumOf(e, 'vllm:gpu_prefix_cache_hits_total')).toBe(10);
    expect(histogramOf(e, 'vllm:time_per_output_token_seconds')?.count).toBe(6);
    expect(e.samples('vllm:gpu_cache_usage_perc')[0]?.labels).toEqual({ model_name: 'm' });
  });

  test('does not depend on label order', () => {
    const e = parsePromText('x{model_name="m",engine="0"} 1\nx{engine="1",model_name="m"} 2\n');
    expect(e.samples('x').map((s) => s.labels)).toEqual([
      { model_name: 'm', engine: '0' },
      { engine: '1', model_name: 'm' },
    ]);
  });
});

describe('parsePromText on the format corners', () => {
  test('unescapes label values and HELP text', () => {
    const e = parsePromText(
      ['# HELP m A \\\\ backslash\\nand a newline', 'm{path="C:\\\\dir",quote="say \\"hi\\"",nl="a\\nb",odd="\\t"} 1'].join('\n'),
    );
    expect(e.problems).toEqual([]);
    expect(e.families.get('m')?.help).toBe('A \\ backslash\nand a newline');
    expect(e.samples('m')[0]?.labels).toEqual({ path: 'C:\\dir', quote: 'say "hi"', nl: 'a\nb', odd: '\\t' });
  });

  test('reads +Inf, -Inf, NaN, exponents and timestamps', () => {
    const e = parsePromText('a +Inf\nb -Inf\nc NaN\nd 1.5e-3 1700000000000\ne -2 -5\nf Inf\n');
    expect(e.problems).toEqual([]);
    expect(e.samples('a')[0]?.value).toBe(Infinity);
    expect(e.samples('b')[0]?.value).toBe(-Infinity);
    expect(e.samples('c')[0]?.value).toBeNaN();
    expect(e.samples('d')[0]).toMatchObject({ value: 0.0015, timestampMs: 1_700_000_000_000 });
    expect(e.samples('e')[0]).toMatchObject({ value: -2, timestampMs: -5 });
    expect(e.samples('f')[0]?.value).toBe(Infinity);
    expect(e.samples('a')[0]?.timestampMs).toBeUndefined();
  });

  test('accepts blank lines, plain comments, CRLF, spaces and a trailing comma in labels', () => {
    const e = parsePromText('\r\n# just a comment\r\n\r\nm { a = "1" , b="2", } 3\r\nn{} 4\r\n');
    expect(e.problems).toEqual([]);
    expect(e.samples('m')[0]).toMatchObject({ labels: { a: '1', b: '2' }, value: 3 });
    expect(e.samples('n')[0]).toMatchObject({ labels: {}, value: 4 });
  });

  test('reads quoted metric and label names (UTF-8 names of newer Prometheus)', () => {
    const e = parsePromText('# TYPE "my.metric" gauge\n{"my.metric","the.label"="v"} 5\n');
    expect(e.problems).toEqual([]);
    expect(e.samples('my.metric')[0]).toMatchObject({ labels: { 'the.label': 'v' }, value: 5 });
    expect(e.families.get('my.metric')?.type).toBe('gauge');
  });

  test('reports malformed lines with their line numbers and keeps the rest', () => {
    const text = [
      'good 1',
      'bad{a="1" 2',
      'noval',
      'm{a="x",a="y"} 1',
      'v 12abc',
      't 1 notatime',
      'u{a=1} 1',
      '# TYPE good sometype',
      '# TYPE g gauge',
      '# TYPE g counter',
      'x 1 2 3',
      'also_good{a="b"} 2',
    ].join('\n');
    const e = parsePromText(text);
    expect(e.problems.map((p) => p.line)).toEqual([2, 3, 4, 5, 6, 7, 8, 10, 11]);
    expect(e.problems[2]?.message).toContain('duplicate label a');
    expect(sumOf(e, 'good')).toBe(1);
    expect(sumOf(e, 'also_good')).toBe(2);
    expect(e.families.get('g')?.type).toBe('gauge');
  });

  test('an unterminated label value is an error, not a hang or a partial sample', () => {
    const e = parsePromText('m{a="open} 1\n');
    expect(e.samples('m')).toEqual([]);
    expect(e.problems[0]?.message).toContain('unterminated');
  });

  test('parseValue follows Go ParseFloat for the forms Prometheus writes', () => {
    expect(parseValue('+inf')).toBe(Infinity);
    expect(parseValue('-Infinity')).toBe(-Infinity);
    expect(parseValue('nan')).toBeNaN();
    expect(parseValue('.5')).toBe(0.5);
    expect(parseValue('5.')).toBe(5);
    expect(parseValue('1e3')).toBe(1000);
    expect(parseValue('')).toBeUndefined();
    expect(parseValue('0x10')).toBeUndefined();
    expect(parseValue('1,5')).toBeUndefined();
  });
});
